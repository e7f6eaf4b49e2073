"""Pure analysis core: statement splitting, sqlglot extraction, schema model, diff, config."""
