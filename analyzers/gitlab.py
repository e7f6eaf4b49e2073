"""GitLab's sharding metadata: the database dictionary, the schema catalogue, loose foreign keys.

GitLab describes every table in `db/docs/<table>.yml` (its `gitlab_schema`, `sharding_key`, …),
every `gitlab_schema` in `db/gitlab_schemas/<schema>.yaml` (whether it requires a sharding key,
its root tables, what it may join with) and the cross-database references that Rails cleans up
itself in `config/gitlab_loose_foreign_keys.yml`. This module reads those files from their
texts (no file I/O), so that the Cells rules can check a merge request against them.

Invalid input never raises: a file that cannot be read becomes an object whose `errors` say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

# --- the database dictionary: db/docs/<table>.yml -------------------------------------------

DICTIONARY_DIRS = ("db/docs", "ee/db/docs")
DICTIONARY_REQUIRED_FIELDS = ("table_name", "gitlab_schema", "feature_categories", "milestone")
DICTIONARY_ALLOWED_FIELDS = frozenset(
    {
        # spec/db/docs_spec.rb (@0286e4c6)
        "table_name",
        "classes",
        "feature_categories",
        "description",
        "introduced_by_url",
        "milestone",
        "gitlab_schema",
        "schema_inconsistencies",
        "sharding_key",
        "desired_sharding_key",
        "allow_cross_joins",
        "allow_cross_transactions",
        "allow_cross_foreign_keys",
        "desired_sharding_key_migration_job_name",
        "sharding_key_issue_url",
        "notes",
        "table_size",
        "partition_detach_info",
        # used by other GitLab versions, not in the allow-list cited
        "exempt_from_sharding",
        "finalized_by",
    }
)
# The Ruby spec uses `\A…\z`; `[0-9]` because Python's `\d` also accepts non-ASCII digits.
SHARDING_KEY_ISSUE_URL = re.compile(r"https://gitlab\.com/gitlab-org/gitlab/-/issues/[0-9]+")


@dataclass(frozen=True, slots=True)
class DictionaryEntry:
    """One `db/docs/<table>.yml` file.

    `fields` holds every top-level key as parsed; the other attributes are the keys the rules
    use, normalised (a missing or malformed key gives None or an empty tuple, and a message in
    `errors`). `lines` maps each top-level key to the 1-based line where it appears.
    """

    path: str
    table_name: str | None = None  # `view_name` for views
    gitlab_schema: str | None = None
    sharding_key: dict[str, str] | None = None  # column -> root table
    desired_sharding_key: dict[str, Any] | None = None  # as written: column -> backfill plan
    sharding_key_issue_url: str | None = None
    milestone: str | None = None
    feature_categories: tuple[str, ...] = ()
    exempt_from_sharding: bool = False
    allow_cross_foreign_keys: tuple[str, ...] = ()
    fields: dict[Any, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    def line_of(self, key: str) -> int:
        """Line of top-level `key`, or 1 (the top of the file) when the key is absent."""
        return self.lines.get(key, 1)


def is_dictionary_path(path: str) -> bool:
    """`db/docs/*.yml` or `ee/db/docs/*.yml`; views and deleted objects (subfolders) are not."""
    parent, _, name = path.rpartition("/")
    return parent in DICTIONARY_DIRS and name.endswith(".yml")


def parse_dictionary_entry(path: str, text: str) -> DictionaryEntry:
    """Read the text of a dictionary file; problems end up in `errors`, never raised.

    >>> entry = parse_dictionary_entry("db/docs/t.yml", "table_name: t\\nsharding_key:\\n  a: b\\n")
    >>> entry.sharding_key, entry.lines["sharding_key"]
    ({'a': 'b'}, 2)
    """
    data, lines, errors = _load_mapping(text)
    if data is None:
        return DictionaryEntry(path=path, errors=tuple(errors))
    table_name = _optional_str(data, "table_name", errors)
    if table_name is None:
        table_name = _optional_str(data, "view_name", errors)
    return DictionaryEntry(
        path=path,
        table_name=table_name,
        gitlab_schema=_optional_str(data, "gitlab_schema", errors),
        sharding_key=_sharding_key(data, errors),
        desired_sharding_key=_optional_mapping(data, "desired_sharding_key", errors),
        sharding_key_issue_url=_optional_str(data, "sharding_key_issue_url", errors),
        milestone=_milestone(data),
        feature_categories=_str_tuple(data, "feature_categories", errors),
        exempt_from_sharding=_flag(data, "exempt_from_sharding", errors),
        allow_cross_foreign_keys=_str_tuple(data, "allow_cross_foreign_keys", errors),
        fields=data,
        lines=lines,
        errors=tuple(errors),
    )


def dictionary_problems(entry: DictionaryEntry, known_schemas: Iterable[str]) -> list[str]:
    """What GitLab's `docs_spec` / `sharding_key_spec` would reject in a table's entry.

    Parse errors come first; a file that is not a YAML mapping reports only those. An empty
    `known_schemas` (the schema files were not read) skips the unknown-schema check.
    """
    problems = list(entry.errors)
    if not entry.fields and entry.errors:  # not a mapping: nothing else to check
        return problems
    missing = [key for key in DICTIONARY_REQUIRED_FIELDS if _blank(entry.fields.get(key))]
    if missing:
        problems.append(f"missing or blank required field(s): {', '.join(missing)}")
    schemas = set(known_schemas)
    if schemas and entry.gitlab_schema and entry.gitlab_schema not in schemas:
        problems.append(
            f"unknown gitlab_schema {entry.gitlab_schema!r}; known: {', '.join(sorted(schemas))}"
        )
    extra = sorted(str(key) for key in entry.fields if key not in DICTIONARY_ALLOWED_FIELDS)
    if extra:
        problems.append(f"field(s) not allowed: {', '.join(extra)}")
    problems.extend(_issue_url_problems(entry))
    return problems


def _issue_url_problems(entry: DictionaryEntry) -> list[str]:
    if "sharding_key_issue_url" not in entry.fields:
        return []
    problems = []
    url = entry.fields["sharding_key_issue_url"]
    if not isinstance(url, str) or not SHARDING_KEY_ISSUE_URL.fullmatch(url):
        problems.append(
            f"sharding_key_issue_url {url!r} is not a gitlab-org/gitlab issue URL "
            "(https://gitlab.com/gitlab-org/gitlab/-/issues/<number>)"
        )
    keys = [key for key in ("sharding_key", "desired_sharding_key") if key in entry.fields]
    if keys:
        problems.append(f"sharding_key_issue_url must be removed once {keys[0]} is set")
    return problems


# --- the schema catalogue: db/gitlab_schemas/<schema>.yaml ----------------------------------

SCHEMA_DIRS = ("db/gitlab_schemas", "ee/db/gitlab_schemas")
CROSS_KINDS = ("allow_cross_joins", "allow_cross_transactions", "allow_cross_foreign_keys")
UNKNOWN_DATABASE = "unknown"
SHARED_DATABASE = "shared"
# family -> database; a family matches its own name and `<family>_<anything>`
_DATABASES = (
    ("gitlab_ci", "ci"),
    ("gitlab_sec", "sec"),
    ("gitlab_main", "main"),
    ("gitlab_pm", "main"),
    ("gitlab_shared", SHARED_DATABASE),
    ("gitlab_internal", SHARED_DATABASE),
    ("gitlab_geo", "geo"),
    ("gitlab_embedding", "embedding"),
)


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One `db/gitlab_schemas/<schema>.yaml` file.

    The three `allow_cross_*` tuples list every schema named in the allow-list. An item of the
    form `schema: {specific_tables: [...]}` allows only those tables of `schema`: they are in
    `specific_tables[<allow_cross_* key>][schema]`.
    """

    name: str
    description: str = ""
    require_sharding_key: bool = False
    sharding_root_tables: tuple[str, ...] = ()
    disallow_sequences: bool = False
    allow_cross_joins: tuple[str, ...] = ()
    allow_cross_transactions: tuple[str, ...] = ()
    allow_cross_foreign_keys: tuple[str, ...] = ()
    specific_tables: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    path: str = ""
    errors: tuple[str, ...] = ()

    @property
    def database(self) -> str:
        """The database holding this schema's tables (see `database_of`)."""
        return database_of(self.name)

    def allows_cross(self, kind: str, schema: str, table: str | None = None) -> bool:
        """Whether a join / transaction / foreign key (`kind`: `allow_cross_joins`, …) may
        reach `table` of `schema`, as GitLab's `GitlabSchemaInfo#allowed_for?` decides.

        A schema listed with `specific_tables` allows only those tables, so without a `table`
        the answer is False.
        """
        if schema == self.name:
            return True
        if schema not in getattr(self, kind):
            return False
        tables = self.specific_tables.get(kind, {}).get(schema)
        return tables is None or (table is not None and table in tables)


def is_schema_path(path: str) -> bool:
    """`db/gitlab_schemas/*.yaml` or `ee/db/gitlab_schemas/*.yaml`."""
    parent, _, name = path.rpartition("/")
    return parent in SCHEMA_DIRS and name.endswith(".yaml")


def parse_schema_info(path: str, text: str) -> SchemaInfo:
    """Read the text of a schema file; without a `name`, the file name gives it."""
    data, _, errors = _load_mapping(text)
    stem = PurePosixPath(path).stem
    if data is None:
        return SchemaInfo(name=stem, path=path, errors=tuple(errors))
    name = _optional_str(data, "name", errors) or stem
    allowed: dict[str, tuple[str, ...]] = {}
    specific: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind in CROSS_KINDS:
        allowed[kind], tables = _cross_list(data.get(kind), kind, errors)
        if tables:
            specific[kind] = tables
    return SchemaInfo(
        name=name,
        description=_optional_str(data, "description", errors) or "",
        require_sharding_key=_flag(data, "require_sharding_key", errors),
        sharding_root_tables=_str_tuple(data, "sharding_root_tables", errors),
        disallow_sequences=_flag(data, "disallow_sequences", errors),
        allow_cross_joins=allowed["allow_cross_joins"],
        allow_cross_transactions=allowed["allow_cross_transactions"],
        allow_cross_foreign_keys=allowed["allow_cross_foreign_keys"],
        specific_tables=specific,
        path=path,
        errors=tuple(errors),
    )


def _cross_list(
    value: Any, kind: str, errors: list[str]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """`[schema_a, {schema_b: {specific_tables: [t1, t2]}}]` -> names, {schema_b: (t1, t2)}."""
    if value is None:
        return (), {}
    if not isinstance(value, list):
        errors.append(f"{kind} must be a list of schemas")
        return (), {}
    names: list[str] = []
    specific: dict[str, tuple[str, ...]] = {}
    for item in value:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            for schema, options in item.items():
                names.append(str(schema))
                tables = _specific_tables(options)
                if tables is None:
                    errors.append(f"{kind}: {schema} needs `specific_tables: [<table>, ...]`")
                else:
                    specific[str(schema)] = tables
        else:
            errors.append(f"{kind}: {item!r} is neither a schema name nor a mapping")
    return tuple(names), specific


def _specific_tables(options: Any) -> tuple[str, ...] | None:
    """`{specific_tables: [t1, t2]}` -> (t1, t2); None when malformed."""
    tables = options.get("specific_tables") if isinstance(options, dict) else None
    if isinstance(tables, list) and all(isinstance(table, str) for table in tables):
        return tuple(tables)
    return None


def database_of(schema_name: str) -> str:
    """The logical database a `gitlab_schema` lives in.

    ====================================  ==========================================
    schema                                database
    ====================================  ==========================================
    `gitlab_ci`, `gitlab_ci_*`            `ci`
    `gitlab_sec`, `gitlab_sec_*`          `sec`
    `gitlab_main`, `gitlab_main_*`        `main`
    `gitlab_pm`                           `main`
    `gitlab_shared`, `gitlab_shared_*`    `shared`: present in every database
    `gitlab_internal`                     `shared`: present in every database
    `gitlab_geo`                          `geo` (EE, own database)
    `gitlab_embedding`                    `embedding` (EE, own database)
    anything else                         `unknown`
    ====================================  ==========================================

    A family matches its own name and `<family>_<suffix>` (so `gitlab_cix` is `unknown`).

    GitLab's own source is `db/database_connections/*.yaml`. A single-database installation
    keeps all of them in one database, and `sec` falls back to `main` when not configured.
    """
    for family, database in _DATABASES:
        if schema_name == family or schema_name.startswith(family + "_"):
            return database
    return UNKNOWN_DATABASE


# --- loose foreign keys: config/gitlab_loose_foreign_keys.yml -------------------------------

LOOSE_FOREIGN_KEYS_PATH = "config/gitlab_loose_foreign_keys.yml"


@dataclass(frozen=True, slots=True)
class LooseForeignKey:
    """`table.column` refers to `to_table` (its `id`); Rails cleans up after deletes.

    In the YAML the child table is the key and `table:` names the parent (our `to_table`).
    `on_delete` is `async_delete`, `async_nullify` or `update_column_to`; other keys
    (`target_column`, `target_value`, `conditions`, …) are kept in `options`.
    """

    table: str
    column: str
    to_table: str
    on_delete: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_loose_foreign_keys(text: str) -> dict[str, list[LooseForeignKey]]:
    """Loose foreign keys by child table; malformed items are skipped (see `_loose_fks`)."""
    return _loose_fks(text)[0]


def _loose_fks(text: str) -> tuple[dict[str, list[LooseForeignKey]], list[str]]:
    data, _, errors = _load_mapping(text)
    result: dict[str, list[LooseForeignKey]] = {}
    for table, items in (data or {}).items():
        if not isinstance(items, list):
            errors.append(f"{table}: expected a list of loose foreign keys")
            continue
        for item in items:
            key = _loose_fk(str(table), item)
            if key is None:
                errors.append(f"{table}: needs `table`, `column` and `on_delete`: {item!r}")
            else:
                result.setdefault(str(table), []).append(key)
    return result, errors


def _loose_fk(table: str, item: Any) -> LooseForeignKey | None:
    if not isinstance(item, dict):
        return None
    parts = [item.get(key) for key in ("column", "table", "on_delete")]
    if not all(isinstance(part, str) and part for part in parts):
        return None
    options = {k: v for k, v in item.items() if k not in {"column", "table", "on_delete"}}
    return LooseForeignKey(table, parts[0], parts[1], parts[2], options)


# --- partitions ------------------------------------------------------------------------------

_PARTITION_SUFFIX = re.compile(r"_[0-9]+\Z")


def partition_parent_name(table: str) -> str:
    """The name GitLab looks up in the dictionary for `table`.

    Mirrors `Gitlab::Database::GitlabSchema.table_schema` (`lib/gitlab/database/gitlab_schema.rb`
    @028c7bdc): drop everything up to the first `.` (any schema, such as
    `gitlab_partitions_static.` or `gitlab_partitions_dynamic.`, also `public.`), then strip one
    trailing `_<digits>`: `gitlab_partitions_static.issue_search_data_07` -> `issue_search_data`,
    `loose_foreign_keys_deleted_records_1` -> `loose_foreign_keys_deleted_records`.

    Not verified: whether newer GitLab versions changed the rule. Known limits of the rule
    itself: a real table whose name ends in `_<digits>` is mapped too; list partitions with
    other names (`ci_builds` of `p_ci_builds`, `project_uploads` of `uploads_9ba88c4165`,
    `instance_type_ci_runners`) are not — GitLab finds `ci_*` ones by trying `p_<name>`
    (`GitLabCatalogue.entry_for` does too), and the others need their own dictionary file.
    """
    name = table.split(".", 1)[1] if "." in table else table
    return _PARTITION_SUFFIX.sub("", name, count=1)


# --- one revision's catalogue ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GitLabCatalogue:
    """The dictionary, schemas and loose foreign keys of one revision of GitLab."""

    entries: dict[str, DictionaryEntry] = field(default_factory=dict)  # by table name
    schemas: dict[str, SchemaInfo] = field(default_factory=dict)  # by schema name
    loose_foreign_keys: dict[str, list[LooseForeignKey]] = field(default_factory=dict)
    errors: tuple[str, ...] = ()  # `path: message`, for files that could not be used fully

    @classmethod
    def from_files(cls, texts: Mapping[str, str]) -> GitLabCatalogue:
        """Build from `path -> text` of a revision; paths that are not `relevant_path` are
        ignored. An entry without a table name is keyed by its file name."""
        entries: dict[str, DictionaryEntry] = {}
        schemas: dict[str, SchemaInfo] = {}
        loose: dict[str, list[LooseForeignKey]] = {}
        errors: list[str] = []
        for path in sorted(texts):
            text = texts[path]
            if is_dictionary_path(path):
                entry = parse_dictionary_entry(path, text)
                name = entry.table_name or PurePosixPath(path).stem
                if name in entries:
                    errors.append(f"{path}: {name} is also described in {entries[name].path}")
                entries[name] = entry
                errors.extend(f"{path}: {message}" for message in entry.errors)
            elif is_schema_path(path):
                schema = parse_schema_info(path, text)
                schemas[schema.name] = schema
                errors.extend(f"{path}: {message}" for message in schema.errors)
            elif path == LOOSE_FOREIGN_KEYS_PATH:
                loose, messages = _loose_fks(text)
                errors.extend(f"{path}: {message}" for message in messages)
        return cls(entries, schemas, loose, tuple(errors))

    def entry_for(self, table: str) -> DictionaryEntry | None:
        """The entry describing `table`, a partition's parent, or `p_<table>` for `ci_*`."""
        if table in self.entries:
            return self.entries[table]
        name = partition_parent_name(table)
        entry = self.entries.get(name)
        if entry is None and name.startswith("ci_"):
            entry = self.entries.get(f"p_{name}")
        return entry

    def schema_of(self, table: str) -> SchemaInfo | None:
        """The `SchemaInfo` of `table`'s `gitlab_schema`, when both are known."""
        entry = self.entry_for(table)
        if entry is None or entry.gitlab_schema is None:
            return None
        return self.schemas.get(entry.gitlab_schema)

    def loose_foreign_keys_to(self, table: str) -> list[LooseForeignKey]:
        """Loose foreign keys whose parent is `table`."""
        return [
            key
            for keys in self.loose_foreign_keys.values()
            for key in keys
            if key.to_table == table
        ]


def relevant_path(path: str) -> bool:
    """Whether `GitLabCatalogue.from_files` reads this file."""
    return is_dictionary_path(path) or is_schema_path(path) or path == LOOSE_FOREIGN_KEYS_PATH


def is_gitlab_repository(paths: Iterable[str]) -> bool:
    """True when the revision has files under both `db/docs/` and `db/gitlab_schemas/`."""
    docs = schemas = False
    for path in paths:
        docs = docs or path.startswith("db/docs/")
        schemas = schemas or path.startswith("db/gitlab_schemas/")
        if docs and schemas:
            return True
    return False


# --- YAML helpers ------------------------------------------------------------------------------


def _load_mapping(text: str) -> tuple[dict[Any, Any] | None, dict[str, int], list[str]]:
    """Parse `text` as a YAML mapping: (data or None, line of each top-level key, errors)."""
    import yaml  # noqa: PLC0415 (only GitLab repositories need it)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        return None, {}, [f"not valid YAML: {error}"]
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return None, {}, [f"expected a mapping at the top level, not {type(data).__name__}"]
    lines: dict[str, int] = {}
    errors: list[str] = []
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value in lines:
                errors.append(f"duplicate key {key_node.value!r}: the last one counts")
            lines[key_node.value] = key_node.start_mark.line + 1
    return data, lines, errors


def _blank(value: Any) -> bool:
    """Ruby's `blank?`: nil, false, whitespace-only strings and empty collections."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict | tuple) and not value


def _optional_str(data: dict[Any, Any], key: str, errors: list[str]) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    errors.append(f"{key} must be a string, not {value!r}")
    return None


def _optional_mapping(data: dict[Any, Any], key: str, errors: list[str]) -> dict[Any, Any] | None:
    value = data.get(key)
    if value is None or isinstance(value, dict):
        return value
    errors.append(f"{key} must be a mapping, not {value!r}")
    return None


def _sharding_key(data: dict[Any, Any], errors: list[str]) -> dict[str, str] | None:
    value = _optional_mapping(data, "sharding_key", errors)
    if value is None:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        errors.append(f"sharding_key must map columns to root tables, not {value!r}")
        return None
    return value


def _milestone(data: dict[Any, Any]) -> str | None:
    """As a string; an unquoted `16.10` is already the float 16.1, which we cannot undo."""
    value = data.get("milestone")
    return None if value is None else str(value)


def _str_tuple(data: dict[Any, Any], key: str, errors: list[str]) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    errors.append(f"{key} must be a list of strings, not {value!r}")
    return ()


def _flag(data: dict[Any, Any], key: str, errors: list[str]) -> bool:
    value = data.get(key, False)
    if isinstance(value, bool):
        return value
    errors.append(f"{key} must be true or false, not {value!r}")
    return False


class LazyEntries(dict):  # type: ignore[type-arg]
    """Dictionary entries by table, each parsed from its file on first use.

    GitLab has about 2,000 dictionary files; a review needs a few of them.
    """

    def __init__(self, files: Mapping[str, str]) -> None:
        super().__init__()
        self._texts = {PurePosixPath(path).stem: (path, text) for path, text in files.items()}

    def _load(self, table: str) -> DictionaryEntry | None:
        if dict.__contains__(self, table):
            return dict.__getitem__(self, table)
        found = self._texts.get(table)
        if found is None:
            return None
        entry = parse_dictionary_entry(*found)
        dict.__setitem__(self, table, entry)
        return entry

    def __contains__(self, table: object) -> bool:
        return table in self._texts

    def __getitem__(self, table: str) -> DictionaryEntry:
        entry = self._load(table)
        if entry is None:
            raise KeyError(table)
        return entry

    def get(self, table: str, default: Any = None) -> Any:  # type: ignore[override]
        entry = self._load(table)
        return default if entry is None else entry

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def keys(self):  # type: ignore[no-untyped-def]
        return self._texts.keys()

    def values(self):  # type: ignore[no-untyped-def]
        return [self[table] for table in self._texts]

    def items(self):  # type: ignore[no-untyped-def]
        return [(table, self[table]) for table in self._texts]


def lazy_catalogue(texts: Mapping[str, str]) -> GitLabCatalogue:
    """`GitLabCatalogue.from_files`, with dictionary entries parsed only when looked up."""
    catalogue = GitLabCatalogue.from_files(
        {p: t for p, t in texts.items() if not is_dictionary_path(p)}
    )
    entries = LazyEntries({p: t for p, t in texts.items() if is_dictionary_path(p)})
    return GitLabCatalogue(
        entries, catalogue.schemas, catalogue.loose_foreign_keys, catalogue.errors
    )
