"""The Cells rules, one module each; `ALL_RULES` in code order."""

from __future__ import annotations

from analyzers.rules import (
    cross_database_foreign_key,
    cross_schema_foreign_key,
    global_unique_needs_claim,
    missing_dictionary_entry,
    missing_sharding_key,
    non_bigint_primary_key,
    organization_id_column,
    organization_key_on_leaf_table,
    sequence_in_disallowed_schema,
    sharding_key_column_missing,
    sharding_key_invalid_root,
    sharding_key_nullable,
    sharding_key_on_cell_local_table,
    sharding_key_without_foreign_key,
    unanalyzable_statement,
    unique_not_scoped_by_sharding_key,
)
from analyzers.rules.base import Example, Rule, RuleContext

ALL_RULES: tuple[Rule, ...] = tuple(
    sorted(
        (
            missing_dictionary_entry.RULE,
            missing_sharding_key.RULE,
            sharding_key_column_missing.RULE,
            sharding_key_invalid_root.RULE,
            sharding_key_without_foreign_key.RULE,
            sharding_key_nullable.RULE,
            sharding_key_on_cell_local_table.RULE,
            organization_id_column.RULE,
            organization_key_on_leaf_table.RULE,
            unique_not_scoped_by_sharding_key.RULE,
            global_unique_needs_claim.RULE,
            cross_schema_foreign_key.RULE,
            cross_database_foreign_key.RULE,
            sequence_in_disallowed_schema.RULE,
            non_bigint_primary_key.RULE,
            unanalyzable_statement.RULE,
        ),
        key=lambda rule: rule.code,
    )
)
BY_CODE = {rule.code: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "BY_CODE", "Example", "Rule", "RuleContext"]
