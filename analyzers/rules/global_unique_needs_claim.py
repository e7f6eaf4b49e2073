"""CELLS011: a globally meaningful unique attribute is not claimed in the Topology Service."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.cells import CELL_LOCAL, UNKNOWN
from analyzers.findings import WARNING, Finding, Fix
from analyzers.model import Location
from analyzers.names import bare
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS, global_column, scoping_columns
from analyzers.rules.base import Example, Rule, RuleContext
from analyzers.rules.unique_not_scoped_by_sharding_key import _unique_columns

_ACCOUNTS = (
    ORGANIZATIONS + "CREATE TABLE accounts (id bigint PRIMARY KEY, "
    "organization_id bigint NOT NULL REFERENCES organizations, email text NOT NULL);\n"
)


class GlobalUniqueNeedsClaim(Rule):
    code = "CELLS011"
    name = "global-unique-needs-claim"
    severity = WARNING
    summary = "A unique attribute used for routing or login is not covered by a claim."
    rationale = (
        "Usernames, emails, paths, domains, key fingerprints and tokens identify something across "
        "the whole cluster: the HTTP router and the login flow look them up before they know the "
        "cell. A unique index can only guarantee them inside one cell; the Topology Service's "
        "claim service guarantees them everywhere."
    )
    remedy = (
        "Claim the attribute (add it to the claim catalogue, `cells.claims` in .cellsbot.yml; in "
        "GitLab, `cells_claims_attribute` on the model), or rename it if it is not global."
    )
    examples = (
        Example(
            "generic mode: a unique email without a claim",
            _ACCOUNTS + "CREATE UNIQUE INDEX index_accounts_on_email ON accounts (email);\n",
            expect=("accounts",),
            base_sql=_ACCOUNTS,
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: the email is claimed",
            _ACCOUNTS + "CREATE UNIQUE INDEX index_accounts_on_email ON accounts (email);\n",
            base_sql=_ACCOUNTS,
            config=GENERIC_CONFIG + "  claims:\n    - table: accounts\n      columns: [email]\n",
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        claimed = {(bare(c.table), column) for c in ctx.cells.claims for column in c.columns}
        words = ctx.cells.config.global_unique_columns
        for change in ctx.changes:
            unique = _unique_columns(ctx, change)
            if unique is None:
                continue
            table, columns, _ = unique
            model = ctx.head.tables.get(table)
            if (
                model is None
                or model.partition_of
                or ctx.policy(table).klass in (CELL_LOCAL, UNKNOWN)
            ):
                continue
            if scoping_columns(ctx, model) & set(columns):
                continue  # unique per organization (or per row of one): nothing global
            for column in columns:
                if not global_column(column, words) or (bare(table), column) in claimed:
                    continue
                yield self.finding(
                    Location(change.path, change.line),
                    f"{table}.{column} looks globally unique (routing or login): claim it in the "
                    f"Topology Service, a unique index is unique within one cell only",
                    table=table,
                    columns=(column,),
                    fix=_claim(table, column),
                )


def _claim(table: str, column: str) -> Fix:
    text = f"cells:\n  claims:\n    - table: {bare(table)}\n      columns: [{column}]\n"
    data = {"table": bare(table), "columns": [column]}
    return Fix("claim", text, data, f"register {bare(table)}.{column} in the claim catalogue")


RULE = GlobalUniqueNeedsClaim()
