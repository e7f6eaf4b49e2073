"""What a statement does to the schema model."""

MODELED = "modeled"  # its effect is in the model
NO_EFFECT = "no_effect"  # it cannot change the modeled objects (SET, GRANT, COMMENT, …)
UNANALYZABLE = "unanalyzable"  # it may change the schema in a way we cannot model
