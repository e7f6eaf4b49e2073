"""Who owns the tables and files a merge request touches: `.cellsbot.yml` rules, feature
categories (GitLab's database dictionary) and the repository's CODEOWNERS file.

Everything here is a function of texts and values; reading files and talking to GitLab is the
caller's business. The CODEOWNERS semantics follow GitLab's own implementation
(`ee/lib/gitlab/code_owners/file.rb` and `section_parser.rb`) and its documentation
(doc/user/project/codeowners/reference.md); see docs/configuration.md for the summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from analyzers.config import HANDLE_FORMS, OwnersConfig, is_handle, matches_any
from analyzers.names import DEFAULT_SCHEMA, bare

#: Where GitLab looks for the file, in its order: the first one that exists is used, the others
#: are ignored (`Gitlab::CodeOwners::FILE_PATHS`).
CODEOWNERS_PATHS = ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")

Source = Literal["owners", "teams", "CODEOWNERS"]
#: The order in which sources rank owners (see `resolve_owners`).
SOURCES: tuple[Source, ...] = ("owners", "teams", "CODEOWNERS")

# `^[Name][2] @default @owners`: GitLab matches a header at the start of a line and ignores what
# follows it unless it is whitespace and owners; we report that rest instead.
_HEADER = re.compile(
    r"(?P<optional>\^)?\[(?P<name>[^\]]*)\](?:\[(?P<approvals>\d*)\])?(?P<rest>.*)"
)
_UNCLOSED_HEADER = re.compile(r"\^?\[[^\]]*")
_SPLIT = re.compile(r"(?<!\\)\s+")  # the pattern ends at the first unescaped whitespace
_NOTHING = "(?!)"  # a regular expression that matches nothing


# --- CODEOWNERS -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """A line of the CODEOWNERS file that GitLab would flag, or that we could not use fully."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One `pattern owners…` line. `owners` are the line's, or its section header's defaults."""

    pattern: str  # as written (escapes included), for messages
    normalized: str  # GitLab's form, matched with `fnmatch` semantics
    owners: tuple[str, ...]
    line: int
    exclusion: bool = False  # `!pattern`: the section does not apply to matching files
    approvals: int = 0  # from the section header (`[Name][2]`)
    optional: bool = False  # from the section header (`^[Name]`)

    def matches(self, path: str) -> bool:
        """Whether the entry's pattern matches `path` (relative to the root, `/` or not)."""
        return _fnmatch_regex(self.normalized).fullmatch(_rooted(path)) is not None


@dataclass(frozen=True, slots=True)
class Section:
    """A section's entries, one per normalized pattern, in the order GitLab evaluates them.

    `name` is None for the entries before the first header. Headers naming the same section
    (case-insensitively) add to one section; the first spelling is kept. A pattern written
    twice keeps its first place and takes the later line, as GitLab's hash of entries does.
    """

    name: str | None
    entries: tuple[Entry, ...]

    @property
    def optional(self) -> bool:
        """GitLab: a section is optional only when all its entries come from `^[…]` headers."""
        return bool(self.entries) and all(entry.optional for entry in self.entries)

    def match(self, path: str) -> Entry | None:
        """The last entry matching `path`, or None when none does or an exclusion does."""
        matching = [entry for entry in reversed(self.entries) if entry.matches(path)]
        if not matching or any(entry.exclusion for entry in matching):
            return None
        return matching[0]


@dataclass(frozen=True, slots=True)
class SectionMatch:
    """The entry of one section that decides who owns a path."""

    section: str | None  # None: the entries before the first section header
    owners: tuple[str, ...]  # empty when the entry has no owners (reported as a problem)
    pattern: str
    line: int
    optional: bool = False
    approvals: int = 0


@dataclass(frozen=True, slots=True)
class CodeOwners:
    """A parsed CODEOWNERS file. Lines that could not be used fully are in `problems`."""

    source: str = "CODEOWNERS"
    sections: tuple[Section, ...] = ()
    problems: tuple[Problem, ...] = ()

    def owners_of(self, path: str) -> list[SectionMatch]:
        """One match per section that owns `path`, sections in file order.

        >>> codeowners = parse_codeowners("* @all\\n[Database] @db\\n/db/\\n")
        >>> [(m.section, m.owners) for m in codeowners.owners_of("db/structure.sql")]
        [(None, ('@all',)), ('Database', ('@db',))]
        """
        matches = []
        for section in self.sections:
            entry = section.match(path)
            if entry is not None:
                matches.append(
                    SectionMatch(
                        section=section.name,
                        owners=entry.owners,
                        pattern=entry.pattern,
                        line=entry.line,
                        optional=section.optional,
                        approvals=entry.approvals,
                    )
                )
        return matches


def find_codeowners(paths: Iterable[str]) -> str | None:
    """The CODEOWNERS file GitLab uses among a revision's `paths`, or None.

    >>> find_codeowners([".gitlab/CODEOWNERS", "docs/CODEOWNERS", "README.md"])
    'docs/CODEOWNERS'
    """
    present = set(paths)
    return next((path for path in CODEOWNERS_PATHS if path in present), None)


@dataclass(frozen=True, slots=True)
class _Header:
    key: str | None  # the section's folded name; None before the first header
    optional: bool = False
    approvals: int = 0
    default_owners: tuple[str, ...] = ()


@dataclass(slots=True)
class _Parser:
    """Builds a `CodeOwners` line by line. `sections` maps a folded section name to its entries
    by normalized pattern; `names` maps it to its first spelling."""

    source: str
    header: _Header = field(default_factory=lambda: _Header(None))
    names: dict[str | None, str | None] = field(default_factory=lambda: {None: None})
    sections: dict[str | None, dict[str, Entry]] = field(default_factory=lambda: {None: {}})
    problems: list[Problem] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.source, line, message))

    def result(self) -> CodeOwners:
        sections = tuple(
            Section(self.names[key], tuple(entries.values()))
            for key, entries in self.sections.items()
            if entries
        )
        return CodeOwners(self.source, sections, tuple(self.problems))


def parse_codeowners(text: str, *, source: str = "CODEOWNERS") -> CodeOwners:
    """Read a CODEOWNERS file as GitLab does. Never raises: what GitLab would flag, and what
    it would silently ignore, is reported in `CodeOwners.problems` with its line number.

    >>> parse_codeowners("[Database\\n").problems[0].message
    'section header without a closing `]`; the line is ignored'
    """
    parser = _Parser(source)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header is not None:
            _start_section(parser, header, number)
        elif _UNCLOSED_HEADER.fullmatch(line):
            parser.problem(number, "section header without a closing `]`; the line is ignored")
        else:
            _add_entry(parser, line, number)
    return parser.result()


def _start_section(parser: _Parser, header: re.Match[str], number: int) -> None:
    name = header["name"]
    optional = header["optional"] is not None
    approvals = int(header["approvals"] or 0)
    if not name.strip():
        parser.problem(number, "section header without a name")
    if optional and approvals:
        parser.problem(number, "an optional section (`^[…]`) cannot require approvals")
    rest = header["rest"]
    if rest and not rest[0].isspace():
        parser.problem(number, f"unexpected {rest.split()[0]!r} after the section header")
        rest = ""
    defaults = _owners(rest, parser, number, "default owner")
    key = name.casefold()
    parser.names.setdefault(key, name)
    parser.sections.setdefault(key, {})
    parser.header = _Header(key, optional, approvals, defaults)


def _add_entry(parser: _Parser, line: str, number: int) -> None:
    pattern, written_owners = (*_SPLIT.split(line, maxsplit=1), "")[:2]
    exclusion = pattern.startswith("!")
    if exclusion:
        pattern = pattern[1:]
        if written_owners:
            parser.problem(number, "owners after an exclusion pattern (`!…`) are ignored")
        owners: tuple[str, ...] = ()
    else:
        owners = _owners(written_owners, parser, number, "owner") or parser.header.default_owners
        if not owners:
            parser.problem(number, f"no owners for {pattern!r}, and the section has no default")
    header = parser.header
    normalized = _normalize(pattern)
    if _fnmatch_regex(normalized).pattern == _NOTHING:
        parser.problem(number, f"{pattern!r} has a `[` without its `]` and matches nothing")
    # A pattern seen before in the section keeps its place and takes this line (a Ruby Hash).
    parser.sections[header.key][normalized] = Entry(
        pattern=f"!{pattern}" if exclusion else pattern,
        normalized=normalized,
        owners=owners,
        line=number,
        exclusion=exclusion,
        approvals=header.approvals,
        optional=header.optional,
    )


def _owners(text: str, parser: _Parser, number: int, what: str) -> tuple[str, ...]:
    """The valid handles of `text`, first spelling of each; the others are reported."""
    owners: dict[str, str] = {}
    invalid = []
    for token in text.split():
        if is_handle(token):
            owners.setdefault(token.casefold(), token)
        else:
            invalid.append(token)
    if invalid:
        listed = ", ".join(repr(token) for token in invalid)
        comment = any(token.startswith("#") for token in invalid)
        hint = " (inline comments are not supported)" if comment else ""
        parser.problem(number, f"malformed {what}(s) {listed}{hint}; expected {HANDLE_FORMS}")
    return tuple(owners.values())


def _normalize(pattern: str) -> str:
    """GitLab's `normalize_pattern`: unescape, anchor at the root, and a trailing `/` means
    everything below. A pattern without a leading `/` matches at any depth."""
    if pattern == "*":
        return "/**/*"
    pattern = re.sub(r"\A\\#", "#", pattern)
    pattern = re.sub(r"\\\s+", " ", pattern)
    if not pattern.startswith("/"):
        pattern = f"/**/{pattern}"
    if pattern.endswith("/"):
        pattern = f"{pattern}**/*"
    return pattern


def _rooted(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


@cache
def _fnmatch_regex(pattern: str) -> re.Pattern[str]:
    """Ruby's `File.fnmatch` with `FNM_PATHNAME | FNM_DOTMATCH`, which GitLab uses.

    `*`, `?` and `[…]` never match `/`; `**/` at the start of a segment matches zero or more
    directories (elsewhere `**` is `*`); `\\x` is a literal `x`; dotfiles are not special; a
    `[` without its `]` matches nothing.
    """
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            parts.append("(?:[^/]*/)*")
            i += 3
        elif char == "*":
            while i < len(pattern) and pattern[i] == "*":
                i += 1
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
            i += 1
        elif char == "[":
            end = _bracket_end(pattern, i)
            if end is None:  # Ruby: a `[` without its `]` fails the whole match
                return re.compile(_NOTHING)
            parts.append(_bracket(pattern[i + 1 : end]))
            i = end + 1
        else:
            parts.append(re.escape(char))
            i += 1
    return re.compile("".join(parts))


def _bracket_end(pattern: str, start: int) -> int | None:
    i = start + 1
    if i < len(pattern) and pattern[i] in "!^":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return None


def _bracket(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    chars = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            i += 1
        if body[i] == "-" and chars and i + 1 < len(body):
            chars.append("-")
        else:
            chars.append(re.escape(body[i]))
        i += 1
    inner = "".join(chars)
    if not inner:  # Ruby ends a class at its first `]`: `[]` matches nothing, `[!]` anything
        return "[^/]" if negate else _NOTHING
    return f"[^/{inner}]" if negate else f"(?!/)[{inner}]"


# --- resolving owners -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Touched:
    """What a merge request touches.

    `dictionary_paths` maps each touched table to the dictionary file describing it, in GitLab
    mode only (`GitLabCatalogue.entry_for(table).path`, or `dictionary_path(table)` for a table
    without an entry); CODEOWNERS is matched against those files too. Leave it empty otherwise.
    """

    tables: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    dictionary_paths: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why someone owns part of a merge request.

    `via` is the `owners` rule's glob, the feature category (`teams`), or the CODEOWNERS
    pattern. `table` is the touched table the ownership comes from; `path` the changed file,
    or for a table matched in CODEOWNERS, its dictionary file.
    """

    source: Source
    via: str
    table: str | None = None
    path: str | None = None
    rule: int | None = None  # `owners` rule, 1-based as in error messages
    section: str | None = None  # CODEOWNERS section (None: before the first header)
    line: int | None = None  # CODEOWNERS line

    def describe(self) -> str:
        """One line for a note: what is owned, and by which rule.

        >>> Reason("teams", "continuous_integration", table="ci_builds").describe()
        'table `ci_builds`: feature category `continuous_integration` (teams)'
        """
        subject = f"table `{self.table}`" if self.table else f"`{self.path}`"
        if self.source == "owners":
            return f"{subject}: `{self.via}` (owners[{self.rule}] in .cellsbot.yml)"
        if self.source == "teams":
            return f"{subject}: feature category `{self.via}` (teams)"
        section = f"[{self.section}] " if self.section is not None else ""
        through = f", via `{self.path}`" if self.table and self.path else ""
        return f"{subject}: CODEOWNERS {section}`{self.via}` (line {self.line}{through})"


@dataclass(frozen=True, slots=True)
class Owner:
    """A handle as first written, and every reason it owns part of the merge request."""

    handle: str
    reasons: tuple[Reason, ...]

    @property
    def source(self) -> Source:
        """The first source, in `SOURCES` order, that names this owner."""
        return min((reason.source for reason in self.reasons), key=SOURCES.index)


def dictionary_path(table: str) -> str:
    """`db/docs/<table>.yml`: where GitLab describes a table in the `public` schema or a
    partition schema (the schema is dropped).

    >>> dictionary_path("gitlab_partitions_dynamic.ci_builds")
    'db/docs/ci_builds.yml'
    """
    return f"db/docs/{bare(table)}.yml"


def table_matches(table: str, glob: str) -> bool:
    """Whether a table-name glob matches a table (a model key: `name`, or `schema.name` outside
    `public`). A glob without a `.` matches the name in any schema; a glob with one matches
    `schema.name`, a table without a schema being in `public`. Case-sensitive; `*` and `?`.

    >>> table_matches("ci_builds", "public.ci_*"), table_matches("audit.events", "events")
    (True, True)
    >>> table_matches("audit.events", "public.*")
    False
    """
    if "." not in glob:
        return matches_any(bare(table), (glob,))
    qualified = table if "." in table else f"{DEFAULT_SCHEMA}.{table}"
    return matches_any(qualified, (glob,))


def resolve_owners(
    touched: Touched,
    *,
    config: OwnersConfig,
    codeowners: CodeOwners | None,
    feature_categories: Mapping[str, Sequence[str]],
) -> list[Owner]:
    """Everyone who owns a touched table or a changed file, with their reasons.

    Sources, in this order: the `owners` rules of `.cellsbot.yml`; `teams`, by the feature
    categories of each touched table (`feature_categories`: table -> its dictionary
    categories, GitLab mode; empty otherwise); CODEOWNERS, for every changed path and every
    touched table's dictionary file (`touched.dictionary_paths`). Owners are merged by handle,
    case-insensitively, and ordered by their first source, then by handle.
    """
    reasons: list[tuple[str, Reason]] = []
    reasons += _from_rules(touched, config)
    reasons += _from_teams(touched, config, feature_categories)
    if codeowners is not None:
        reasons += _from_codeowners(touched, codeowners)
    return _merge(reasons)


def _from_rules(touched: Touched, config: OwnersConfig) -> list[tuple[str, Reason]]:
    found = []
    for number, rule in enumerate(config.rules, 1):
        for table in touched.tables:
            glob = next((g for g in rule.tables if table_matches(table, g)), None)
            if glob is not None:
                reason = Reason("owners", glob, table=table, rule=number)
                found += [(handle, reason) for handle in rule.owners]
        for path in touched.paths:
            glob = next((g for g in rule.paths if matches_any(path, (g,))), None)
            if glob is not None:
                reason = Reason("owners", glob, path=path, rule=number)
                found += [(handle, reason) for handle in rule.owners]
    return found


def _from_teams(
    touched: Touched, config: OwnersConfig, feature_categories: Mapping[str, Sequence[str]]
) -> list[tuple[str, Reason]]:
    found = []
    for table in touched.tables:
        for category in feature_categories.get(table, ()):
            reason = Reason("teams", category, table=table)
            found += [(handle, reason) for handle in config.teams.get(category, ())]
    return found


def _from_codeowners(touched: Touched, codeowners: CodeOwners) -> list[tuple[str, Reason]]:
    targets = [
        (table, touched.dictionary_paths[table])
        for table in touched.tables
        if table in touched.dictionary_paths
    ]
    targets += [(None, path) for path in touched.paths]
    found = []
    for table, path in targets:
        for match in codeowners.owners_of(path):
            reason = Reason(
                "CODEOWNERS",
                match.pattern,
                table=table,
                path=path,
                section=match.section,
                line=match.line,
            )
            found += [(handle, reason) for handle in match.owners]
    return found


def _merge(found: list[tuple[str, Reason]]) -> list[Owner]:
    handles: dict[str, str] = {}
    reasons: dict[str, dict[Reason, None]] = {}
    for handle, reason in found:
        key = _key(handle)
        handles.setdefault(key, handle)
        reasons.setdefault(key, {})[reason] = None
    owners = [Owner(handles[key], tuple(reasons[key])) for key in handles]
    owners.sort(key=lambda owner: (SOURCES.index(owner.source), _key(owner.handle)))
    return owners


def outside_author(owners: Iterable[Owner], author_handles: Iterable[str]) -> list[Owner]:
    """The owners other than the author and the author's teams.

    `author_handles` holds the author's username and the full paths of their groups, with or
    without the `@` (`alice`, `@gitlab-org/verify`); comparison ignores case. A group counts
    only by its exact path: membership of `@a/b` says nothing about `@a`, nor the reverse.
    Roles (`@@maintainer`) and email addresses stay unless listed.

    >>> owners = [Owner("@Alice", ()), Owner("@gitlab-org/plan", ()), Owner("@bob", ())]
    >>> [o.handle for o in outside_author(owners, ["alice", "@gitlab-org/plan"])]
    ['@bob']
    """
    author = {_key(handle) for handle in author_handles}
    return [owner for owner in owners if _key(owner.handle) not in author]


def _key(handle: str) -> str:
    """A handle's identity: case-insensitive, `@` added to a bare username."""
    handle = handle.strip().casefold()
    return handle if "@" in handle else f"@{handle}"
