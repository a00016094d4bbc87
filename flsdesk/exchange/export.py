"""The monthly export for the FLS-DB: the report first, then the CSV exactly as the profile says.

``prepare`` reads the store and builds an ``ExportPlan``: the rows that will go (drafts included —
the webtool takes drafts), the records held back and why, warnings, and the records deleted here
since they were sent (to delete in the webtool too). ``write`` writes the plan's file atomically
and records it as a batch. Nothing in between touches the store, so a dry run is ``prepare``
plus ``write(dry_run=True)``.

Rows are built from the *effective* answers (hidden answers are absent everywhere): a hidden 6.06
on a hip record is an empty cell, and editing a hidden answer does not change the row, so it
does not make the record "changed since the last export". Every format decision (encoding,
quoting, header, dates, numbers, answers) comes from the profile; every question from the
definition.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, Question, parse_iso_date
from flsdesk.exchange import batches
from flsdesk.exchange.optout import OptoutFields
from flsdesk.exchange.profiles import ExportProfile, load_export_profile
from flsdesk.files import WriteError, atomic_write
from flsdesk.rules import NEEDS_CORRECTION, applicability, problem_summary
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

HELD_NEEDS_CORRECTION = "Needs correction"  # only when the rules give no message (never seen)
HELD_OPTED_OUT = "Opted out of the National Data Opt-out: never sent to the FLS-DB"
HELD_OPTOUT_NOT_CHECKED = (
    "Not yet checked against the National Data Opt-out list, which Settings requires before "
    "export: use 'Mark these as checked against the list' (National Data Opt-out)"
)
WARN_OPTOUT_NOT_CHECKED = (
    "Not yet checked against the National Data Opt-out list (exported: Settings does not "
    "require the check)"
)
REQUIRE_OPTOUT_SETTING = "require_optout_check"

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ExportError(Exception):
    """The export cannot go ahead. ``str()`` is a sentence for the user that names records by
    id and questions by number, never an answer, so it is also safe to log."""


class UnencodableCharacter(ExportError):
    def __init__(self, record_id: int, question: str, short_name: str, char: str, encoding: str):
        self.record_id = record_id
        self.question = question
        super().__init__(
            f"Record {record_id}, question {question} ({short_name}), holds a character "
            f"(U+{ord(char):04X}) that the export's encoding {encoding} cannot hold. Correct the "
            "answer, or choose another encoding in the export profile; nothing was written."
        )


class NothingToExport(ExportError):
    pass


class ExportCancelled(ExportError):
    pass


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    kind: str  # "since-last", "month" or "all"
    year: int = 0
    month: int = 0

    @classmethod
    def since_last(cls) -> Scope:
        return cls("since-last")

    @classmethod
    def all(cls) -> Scope:
        return cls("all")

    @classmethod
    def of_month(cls, year: int, month: int) -> Scope:
        if not 1 <= month <= 12 or not 1900 <= year <= 9999:
            raise ValueError("a month is YYYY-MM")
        return cls("month", year, month)

    @classmethod
    def parse(cls, text: str) -> Scope:
        """ "since-last", "all", "month:YYYY-MM" or "YYYY-MM"."""
        if text in ("since-last", "all"):
            return cls(text)
        m = re.fullmatch(r"(?:month:)?(\d{4})-(\d{2})", text.strip())
        if not m:
            raise ValueError(f"{text!r} is not a scope: since-last, all or YYYY-MM")
        return cls.of_month(int(m.group(1)), int(m.group(2)))

    @property
    def label(self) -> str:
        return f"month:{self.year:04d}-{self.month:02d}" if self.kind == "month" else self.kind

    def describe(self) -> str:
        if self.kind == "since-last":
            return "new or changed since the last sent export"
        if self.kind == "all":
            return "every record"
        return f"diagnosed in {date(self.year, self.month, 1):%B %Y}"

    def bounds(self) -> tuple[str, str] | None:
        """ISO dates [first, next month's first) for a month scope."""
        if self.kind != "month":
            return None
        nxt = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return f"{self.year:04d}-{self.month:02d}-01", f"{nxt[0]:04d}-{nxt[1]:02d}-01"


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


class ReportRow(NamedTuple):
    """One line of the report. A named tuple: an export builds 50,000 of them."""

    record_id: int
    nhs_number: str | None
    diagnosed: date | None
    name: str | None
    status: str
    reason: str = ""  # why held back, or the warning


@dataclass(frozen=True)
class DeletedSinceSent:
    record_id: int
    nhs_number: str | None  # None once the record has been purged here
    diagnosed: date | None
    deleted_at: datetime | None  # naive UTC; None once purged
    reason: str | None
    last_sent: datetime  # naive UTC

    @property
    def purged(self) -> bool:
        return self.deleted_at is None


@dataclass
class ExportPlan:
    scope: Scope
    profile: ExportProfile
    header: list[str]
    going: list[ReportRow] = field(default_factory=list)
    held_back: list[ReportRow] = field(default_factory=list)
    warnings: list[ReportRow] = field(default_factory=list)
    deleted_since_sent: list[DeletedSinceSent] = field(default_factory=list)
    unchanged: int = 0  # live records in scope whose row is as last sent (since-last only)
    # Since-last only: exported-but-unconfirmed batches holding rows that go again.
    unconfirmed: list[batches.Unconfirmed] = field(default_factory=list)
    # Parallel to ``going``: the encoded row (line end included) and its SHA-256.
    row_bytes: list[bytes] = field(default_factory=list, repr=False)
    row_hashes: list[str] = field(default_factory=list, repr=False)
    header_bytes: bytes = b""
    # Rows rendered afresh, saved to the row cache with the batch (never by a dry run); when
    # the context changed, the old cache is dropped first.
    cache_updates: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    cache_context: str = ""
    cache_reset: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.going

    def unconfirmed_lines(self) -> list[str]:
        """One sentence per saved file not marked as uploaded whose records go again."""
        out = []
        for u in self.unconfirmed:
            day = u.batch.created_at.replace(tzinfo=UTC).astimezone().strftime("%d/%m/%Y")
            out.append(
                f"{u.records} record(s) are in the file of {day} (batch {u.batch.seq}) that is "
                "not marked as uploaded: they go again. If that file was uploaded in the webtool, "
                "mark it in the Outbox first."
            )
        return out

    def summary_line(self) -> str:
        """The report in one line, for clinicians: every count, no file-format jargon."""
        drafts = sum(1 for r in self.going if r.status == "Draft")
        text = (
            f"{len(self.going)} record(s) will go ({self.scope.describe()}; {drafts} draft(s) — "
            f"the webtool takes drafts). {len(self.held_back)} held back. "
            f"{len(self.warnings)} warning(s)."
        )
        if self.deleted_since_sent:
            text += f" {len(self.deleted_since_sent)} deleted here since they were sent."
        if self.scope.kind == "since-last":
            text += f" {self.unchanged} unchanged since they were last sent."
        for line in self.unconfirmed_lines():
            text += " " + line
        return text

    def file_bytes(self) -> Iterable[bytes]:
        """The file, chunk by chunk, exactly as the profile says."""
        end = self.profile.line_end.encode("ascii")
        if self.profile.final_line_end or not self.row_bytes:
            yield self.header_bytes
            yield from self.row_bytes
            return
        yield self.header_bytes
        yield from self.row_bytes[:-1]
        last = self.row_bytes[-1]
        yield last[: -len(end)] if last.endswith(end) else last


@dataclass(frozen=True)
class ExportResult:
    batch_id: str | None  # None for a dry run
    path: Path | None
    sha256: str
    records: int
    size: int
    deleted_reported: int


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class _Applicability:
    """Effective answers, fast.

    Which questions apply is decided by the atomic tests of the definition's rules ("1.11 is
    Hip", "4.01 has a drug", "1.12 answered"…). A test on an effective value is the same test on
    the stored value when its question applies, and a constant when it does not; so which
    questions apply is a function of the atomic tests' results on the *stored* values. Those are
    cheap to compute and take few combinations, so the rules run once per combination instead
    of once per record — with exactly the result ``rules.applicability`` gives.
    """

    def __init__(self, definition: Definition, today: date) -> None:
        self.definition = definition
        self.today = today
        tests: dict[Any, cond.Condition] = {}
        conditions = [q.applies_when for q in definition.questions.values()]
        conditions += [t.applies_when for t in definition.tabs]
        for c in conditions:
            for atom in _atoms(c):
                tests.setdefault(atom, atom)
        self.tests = tuple(tests.values())
        self.checks = tuple(self._compile(t) for t in self.tests)
        self.refs = tuple(sorted({r for t in self.tests for r in cond.referenced_questions(t)}))
        self.cache: dict[tuple[bool, ...], frozenset[str]] = {}

    def _compile(self, test: cond.Condition) -> Callable[[Mapping[str, Any]], bool]:
        """The atomic test as a small function of the stored answers (``cond.holds`` is the
        reference; these are its fast special cases, and anything else goes through it)."""
        if isinstance(test, cond.QuestionTest):
            q, op, operand = test.question, test.operator, test.operand
            if op == "answered":
                return lambda a: (a.get(q) is not None) == operand
            if op in ("in", "has_tag"):
                if op == "has_tag":
                    question = self.definition.questions[q]
                    operand = frozenset(a.label for a in question.answers if a.tags & operand)

                def member(a: Mapping[str, Any]) -> bool:
                    value = a.get(q)
                    if value is None:
                        return False
                    if isinstance(value, list):
                        return any(isinstance(v, str) and v in operand for v in value)
                    return isinstance(value, str) and value in operand

                return member
        definition, today = self.definition, self.today
        return lambda a: cond.holds(test, a.get, today, definition.tags_of, parse_iso_date)

    def effective(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        key = tuple([check(answers) for check in self.checks])
        applying = self.cache.get(key)
        if applying is None:
            subset = {r: answers[r] for r in self.refs if r in answers}
            applies, _, _ = applicability(self.definition, subset, self.today)
            applying = frozenset(k for k, ok in applies.items() if ok)
            self.cache[key] = applying
        return {
            k: v
            for k, v in answers.items()
            if k in applying and v is not None and v != "" and v != []
        }


def _atoms(c: cond.Condition | None) -> list[cond.Condition]:
    match c:
        case None:
            return []
        case cond.QuestionTest() | cond.DaysSince():
            return [c]
        case cond.AnyOf(items=items) | cond.AllOf(items=items):
            return [a for i in items for a in _atoms(i)]
        case cond.Not(item=item):
            return _atoms(item)
    return []


def _format_nhs(profile: ExportProfile, q: Question) -> Callable[[Any], str]:
    special = set(q.special_answers)
    spaced = profile.nhs_format == "spaced"

    def fmt(value: Any) -> str:
        text = str(value)
        if text in special:
            return text
        digits = text.replace(" ", "")
        if spaced and len(digits) == 10:
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
        return digits

    return fmt


def _format_date(profile: ExportProfile, q: Question) -> Callable[[Any], str]:
    special = set(q.special_answers)
    pattern = profile.date_format

    def fmt(value: Any) -> str:
        if value in special:
            return str(value)  # 3.03 "Patient did not attend" goes in the date's column
        parsed = parse_iso_date(value)
        return parsed.strftime(pattern) if parsed else str(value)

    return fmt


def _format_number(profile: ExportProfile, q: Question) -> Callable[[Any], str]:
    whole = profile.whole_numbers_without_decimals
    mark = profile.decimal_mark
    precision = q.precision

    def fmt(value: Any) -> str:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        if isinstance(value, int) or (whole and float(value).is_integer()):
            text = str(int(value))
        elif precision:
            text = f"{value:.{precision}f}"
        else:
            text = repr(float(value))
        if text in ("-0",) or re.fullmatch(r"-0\.0*", text):
            text = text[1:]  # no "-0.0" from rounding a tiny negative
        return text.replace(".", mark) if mark != "." else text

    return fmt


def _format_answers(profile: ExportProfile, q: Question) -> Callable[[Any], str]:
    use_code = profile.answers == "code"
    out = {a.label: (a.code if use_code and a.code else a.label) for a in q.answers}
    order = {a.label: i for i, a in enumerate(q.answers)}
    joiner = profile.multi_joiner

    if q.type == "single":
        return lambda value: out.get(value, str(value))

    def fmt(value: Any) -> str:
        values = value if isinstance(value, list) else [value]
        labels = sorted((str(v) for v in values), key=lambda v: (order.get(v, len(order)), v))
        return joiner.join(out.get(v, v) for v in labels)

    return fmt


def _formatter(profile: ExportProfile, q: Question) -> Callable[[Any], str]:
    if q.type == "nhs":
        return _format_nhs(profile, q)
    if q.type == "date":
        return _format_date(profile, q)
    if q.type == "number":
        return _format_number(profile, q)
    if q.type in ("single", "multi"):
        return _format_answers(profile, q)
    return str


def _columns(definition: Definition, profile: ExportProfile) -> list[Question]:
    if profile.column_order is None:
        return list(definition.exported_questions)
    columns = []
    for key in profile.column_order:
        q = definition.questions.get(key)
        if q is None or q.local:
            raise ExportError(
                f"The export profile {profile.path.name} lists column {key}, which is not a "
                f"question of the dataset {definition.id}: a file must never hold a column the "
                "dataset lacks."
            )
        columns.append(q)
    return columns


def header_cells(columns: Sequence[Question], profile: ExportProfile) -> list[str]:
    if profile.header_style == "short_name":
        return [str(q.short_name) for q in columns]
    return [f"{q.key}{profile.header_separator}{q.short_name}" for q in columns]


class _RowWriter:
    """Formats one record's row in the profile's CSV dialect and encoding.

    Formatting is memoised per question and stored value (dates, answers and numbers repeat
    across a caseload), and a cell is quoted as ``csv.writer`` would quote it — a test checks
    the two agree — because the per-row csv.writer round trip dominated the export's time.
    """

    def __init__(self, profile: ExportProfile, columns: Sequence[Question]) -> None:
        self.profile = profile
        self.columns = list(columns)
        self.position = {q.key: i for i, q in enumerate(self.columns)}
        self.formatters: dict[str, dict[str, Callable[[Any], str]]] = {}
        self.memo: dict[str, dict[str, dict[Any, str]]] = {}
        quote = profile.quote_char
        self._special = (profile.delimiter, quote, "\r", "\n")
        self._quote_all = profile.quoting == "all"
        self._quote = quote
        self._doubled = quote + quote
        self._delimiter = profile.delimiter
        self._end = profile.line_end
        self._empty_cell = self._quoted(profile.empty)

    def _quoted(self, cell: str) -> str:
        q = self._quote
        if self._quote_all or any(ch in cell for ch in self._special):
            return q + cell.replace(q, self._doubled) + q
        return cell

    def _formatters_for(self, definition: Definition) -> dict[str, Callable[[Any], str]]:
        found = self.formatters.get(definition.id)
        if found is None:
            found = {
                q.key: _formatter(self.profile, definition.questions.get(q.key, q))
                for q in self.columns
            }
            self.formatters[definition.id] = found
            self.memo[definition.id] = {q.key: {} for q in self.columns}
        return found

    def cells(self, definition: Definition, effective: Mapping[str, Any]) -> list[str]:
        """The row's cells, already quoted for the file."""
        fmts = self._formatters_for(definition)
        memo = self.memo[definition.id]
        position = self.position
        out = [self._empty_cell] * len(self.columns)
        for key, value in effective.items():
            i = position.get(key)
            if i is None:  # a local-only field, never a column
                continue
            cache = memo[key]
            hashable = _freeze(value)
            cell = cache.get(hashable)
            if cell is None:
                cell = self._quoted(fmts[key](value))
                if len(cache) < 20_000:  # free text would otherwise grow it without bound
                    cache[hashable] = cell
            out[i] = cell
        if len(out) == 1 and out[0] == "":
            out[0] = self._quote * 2  # as csv.writer: a lone empty cell would be a blank line
        return out

    def line(self, cells: Sequence[str]) -> str:
        return self._delimiter.join(cells) + self._end

    def header_line(self, header: Sequence[str]) -> str:
        return self.line([self._quoted(h) for h in header])

    def encode(self, record_id: int, cells: Sequence[str]) -> bytes:
        text = self.line(cells)
        encoding = self.profile.encoding
        try:
            # A BOM belongs to the file, not to each row.
            return text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeEncodeError:
            for q, cell in zip(self.columns, cells, strict=True):
                try:
                    cell.encode(encoding)
                except UnicodeEncodeError as exc:
                    char = cell[exc.start]
                    raise UnencodableCharacter(
                        record_id, q.key, str(q.short_name), char, encoding
                    ) from None
            raise


# ---------------------------------------------------------------------------------------------
# Preparing the plan
# ---------------------------------------------------------------------------------------------


# Bump when the way a row is rendered changes: every cached row is then rendered again.
CACHE_VERSION = "export-row-cache 1"
CACHE_CONTEXT_KEY = "export_row_cache_context"  # in the store's meta table
_SORT_SEP = "\x1f"  # below every character of a date, an NHS number or a timestamp


def _canon(value: Any) -> Any:
    """A deterministic, JSON-able picture of a definition or profile (sets sorted), so that a
    cached row is used only with exactly the definitions and profile it was rendered with."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canon(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, set | frozenset):
        return sorted((_canon(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _has_days_since(definition: Definition) -> bool:
    conditions = [q.applies_when for q in definition.questions.values()]
    conditions += [t.applies_when for t in definition.tabs]
    return any(isinstance(a, cond.DaysSince) for c in conditions for a in _atoms(c))


def _context(store: Store, profile: ExportProfile, today: date) -> str:
    digest = hashlib.sha256(CACHE_VERSION.encode())
    for definition in store.definitions:
        digest.update(json.dumps(_canon(definition), sort_keys=True).encode())
        if _has_days_since(definition):
            # Which questions apply would then change with the calendar alone.
            digest.update(today.isoformat().encode())
    digest.update(json.dumps(_canon(profile), sort_keys=True).encode())
    return digest.hexdigest()


# "+deleted_at": read the table straight through. Otherwise SQLite picks an index that leads
# with deleted_at and fetches every row by id in index order — random pages, each decrypted
# again once the page cache is full: three times slower on a 50,000-record store.
_LIVE_SQL = (
    "SELECT id, answers, status, has_errors, nhs_number, diagnosed, name, created_at "
    "FROM records WHERE +deleted_at IS NULL"
)
# Read apart from the records and joined in Python: a join costs a B-tree look-up per record,
# which on the encrypted store is slower than reading the cache table once.
_CACHE_SQL = (
    "SELECT record_id, answers_sha, row_bytes, row_hash, optout_state, sort_key "
    "FROM export_row_cache"
)


def _deleted_since_sent(store: Store, live_ids: set[int]) -> list[DeletedSinceSent]:
    """Records sent in some export and deleted here since (still in the deleted view, or purged
    after its 30 days), not yet reported by an export. Reads only the few that qualify: the
    batch history grows with every export."""
    with store.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        deleted = {
            r[0]: r
            for r in raw.execute(
                "SELECT id, nhs_number, diagnosed, deleted_at, deleted_reason FROM records "
                "WHERE deleted_at IS NOT NULL"
            ).fetchall()
        }
        # Only sent batches count: a deletion reported in a file never sent is reported again.
        ever = {
            r[0]
            for r in raw.execute(
                "SELECT DISTINCT record_id FROM export_rows WHERE batch_seq IN "
                "(SELECT seq FROM export_batches WHERE state = ?)",
                (batches.SENT,),
            )
        }
        candidates = sorted(ever - live_ids)
        out: list[DeletedSinceSent] = []
        for rid in candidates:
            last = raw.execute(
                "SELECT r.kind, b.created_at FROM export_rows r "
                "JOIN export_batches b ON b.seq = r.batch_seq "
                "WHERE r.record_id = ? AND b.state = ? ORDER BY r.batch_seq DESC LIMIT 1",
                (rid, batches.SENT),
            ).fetchone()
            if last is None or last[0] != batches.ROW:
                continue  # already reported as deleted
            sent_at = datetime.fromisoformat(last[1])
            row = deleted.get(rid)
            if row is None:  # purged: its NHS number is no longer held here
                out.append(DeletedSinceSent(rid, None, None, None, None, sent_at))
            else:
                deleted_at = datetime.fromisoformat(str(row[3]))
                out.append(
                    DeletedSinceSent(
                        rid, row[1], parse_iso_date(row[2]), deleted_at, row[4], sent_at
                    )
                )
    return out


def _why(store: Store, record_id: int, answers_text: str) -> str:
    """Which error holds a record back, in the rules' own words (held-back records are few:
    evaluating each one again costs nothing next to the export)."""
    try:
        evaluation = store.evaluate(json.loads(answers_text), record_id)
    except ValueError:
        return HELD_NEEDS_CORRECTION
    return problem_summary(evaluation) or HELD_NEEDS_CORRECTION


def _live_ids(store: Store) -> set[int]:
    with store.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        return {r[0] for r in raw.execute("SELECT id FROM records WHERE +deleted_at IS NULL")}


class _Renderer:
    """Renders one record from its stored answers: effective answers, opt-out state, the
    encoded row (or the reason it cannot be encoded) and its sort key."""

    def __init__(self, store: Store, profile: ExportProfile, columns: list[Question]) -> None:
        self.store = store
        self.today = store.today()
        self.writer = _RowWriter(profile, columns)
        self.helpers: dict[str, tuple[_Applicability, OptoutFields]] = {}
        self.order = profile.row_order
        self.role = store.definitions.latest.role

    def render(
        self, record_id: int, answers: dict[str, Any], created_at: str
    ) -> tuple[bytes | None, UnencodableCharacter | None, str, str]:
        definition = self.store.definitions.for_answers(answers)
        helper = self.helpers.get(definition.id)
        if helper is None:
            helper = (_Applicability(definition, self.today), OptoutFields.of(definition))
            self.helpers[definition.id] = helper
        effective = helper[0].effective(answers)
        cells = self.writer.cells(definition, effective)
        try:
            data: bytes | None = self.writer.encode(record_id, cells)
            problem = None
        except UnencodableCharacter as exc:
            data, problem = None, exc
        parts = []
        for name in self.order:
            value = created_at if name == "created_at" else effective.get(self.role(name))
            # Missing values sort last; everything compares as text (ISO dates sort as dates).
            parts.append("1" if value is None else "0" + str(value))
        parts.append(f"0{record_id:012d}")
        return data, problem, helper[1].state(effective), _SORT_SEP.join(parts)


def prepare(
    store: Store,
    scope: Scope,
    profile: ExportProfile | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportPlan:
    """The report and the rows of an export; writes nothing.

    A record whose stored answers and context (definitions, profile) are those its cached row
    was rendered with reuses that row; the others are decoded and rendered. Which rows are
    cached changes nothing in the result (a test checks a cold and a warm export agree).
    """
    # The report builds a few hundred thousand small objects that all live until it returns:
    # the cyclic collector would scan them again and again (a third of the run) for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _prepare(store, scope, profile, progress, cancel)
    finally:
        if enabled:
            gc.enable()


def _prepare(
    store: Store,
    scope: Scope,
    profile: ExportProfile | None,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> ExportPlan:
    profile = profile or load_export_profile(
        store.get_setting("export_profile") or None, store.paths
    )
    batches.recover_interrupted(store)
    latest = store.definitions.latest
    columns = _columns(latest, profile)
    header = header_cells(columns, profile)
    renderer = _Renderer(store, profile, columns)
    require_check = bool(store.get_setting(REQUIRE_OPTOUT_SETTING, False))
    context = _context(store, profile, renderer.today)

    sql, params = _LIVE_SQL, ()
    bounds = scope.bounds()
    if bounds:
        sql += " AND diagnosed >= ? AND diagnosed < ?"
        params = bounds
    with store.engine.connect() as conn:
        # The driver's own cursor: plain tuples, without the ORM result layer's cost per row.
        raw: Any = conn.connection.driver_connection
        rows = raw.execute(sql, params).fetchall()
        stored = raw.execute(
            "SELECT value FROM meta WHERE key = ?", (CACHE_CONTEXT_KEY,)
        ).fetchone()
        cache_valid = stored is not None and stored[0] == context
        cached = {r[0]: r[1:] for r in raw.execute(_CACHE_SQL).fetchall()} if cache_valid else {}
        last = batches.last_row_hashes(conn) if scope.kind == "since-last" else {}
    miss = (None, None, None, None, None)
    total = len(rows)
    since_last = scope.kind == "since-last"
    sha256 = hashlib.sha256
    loads = json.loads
    # Diagnosis dates repeat: each distinct one is parsed once.
    days: dict[Any, date | None] = {
        value: parse_iso_date(value) for value in {row[5] for row in rows}
    }
    day = days.__getitem__

    plan = ExportPlan(scope, profile, header)
    plan.cache_context = context
    plan.cache_reset = not cache_valid
    going: list[tuple[str, ReportRow, bytes, str]] = []
    for done, row in enumerate(rows, 1):
        if done % 1000 == 0:
            if cancel is not None and cancel():
                raise ExportCancelled("The export was cancelled; nothing was written.")
            if progress is not None:
                progress(done, total)
        (rid, text, status, has_errors, nhs, diagnosed, name, created) = row
        c_answers, data, digest, optout_state, sort_key = cached.get(rid, miss)
        answers_sha = sha256(text.encode()).digest()
        problem = None
        if c_answers != answers_sha or (data is None and c_answers):
            created_text = str(created)
            data, problem, optout_state, sort_key = renderer.render(rid, loads(text), created_text)
            digest = sha256(data).hexdigest() if data is not None else None
            plan.cache_updates.append((rid, answers_sha, data, digest, optout_state, sort_key))
        if since_last and digest is not None and last.get(rid) == digest:
            plan.unchanged += 1
            continue
        held_reason = ""
        if has_errors or status == NEEDS_CORRECTION:
            held_reason = _why(store, rid, text)
        elif optout_state == "opted_out":
            held_reason = HELD_OPTED_OUT
        elif optout_state == "unchecked" and require_check:
            held_reason = HELD_OPTOUT_NOT_CHECKED
        report = ReportRow(rid, nhs, day(diagnosed), name, status, held_reason)
        if held_reason:
            plan.held_back.append(report)
            continue
        if data is None:
            # Names the record and the question; the cached row said it cannot be encoded.
            raise (
                problem
                or renderer.render(rid, loads(text), str(created))[1]
                or ExportError(f"Record {rid} cannot be written in {profile.encoding}.")
            )
        going.append((sort_key, report, data, digest))
        if optout_state == "unchecked":
            plan.warnings.append(
                ReportRow(rid, nhs, day(diagnosed), name, status, WARN_OPTOUT_NOT_CHECKED)
            )
    if progress is not None:
        progress(total, total)
    going.sort(key=lambda item: item[0])
    plan.going = [item[1] for item in going]
    plan.row_bytes = [item[2] for item in going]
    plan.row_hashes = [item[3] for item in going]
    plan.held_back.sort(key=lambda r: r.record_id)
    plan.warnings.sort(key=lambda r: r.record_id)
    if since_last and plan.going:
        with store.engine.connect() as conn:
            plan.unconfirmed = batches.unconfirmed_holding(conn, (r.record_id for r in plan.going))
    try:
        # utf-8-sig adds the BOM here, once.
        plan.header_bytes = renderer.writer.header_line(header).encode(profile.encoding)
    except UnicodeEncodeError:
        raise ExportError(
            f"The header cannot be written in {profile.encoding}: check the short names."
        ) from None
    live_ids = {row[0] for row in rows} if not bounds else _live_ids(store)
    plan.deleted_since_sent = _deleted_since_sent(store, live_ids)
    log.info(
        "export prepared (%s): %d going, %d held back, %d warnings, %d deleted since sent, "
        "%d rendered",
        scope.label,
        len(plan.going),
        len(plan.held_back),
        len(plan.warnings),
        len(plan.deleted_since_sent),
        len(plan.cache_updates),
    )
    return plan


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write(
    store: Store,
    plan: ExportPlan,
    path: Path | None,
    *,
    dry_run: bool = False,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the plan's file atomically (0600) and record the batch; a dry run does neither."""
    if plan.is_empty:
        raise NothingToExport(
            "Nothing to export: no record in this scope is new or changed, or every one is held "
            "back."
        )
    if dry_run:
        digest = hashlib.sha256()
        size = 0
        for chunk in plan.file_bytes():
            digest.update(chunk)
            size += len(chunk)
        return ExportResult(None, None, digest.hexdigest(), len(plan.going), size, 0)
    if path is None:
        raise ExportError("No file was given to write the export to.")
    path = Path(path).expanduser().absolute()
    if cancel is not None and cancel():
        raise ExportCancelled("The export was cancelled; nothing was written.")
    batch_id = batches.new_batch_id()
    size = sum(len(c) for c in plan.file_bytes())
    ids = [r.record_id for r in plan.going]
    deleted = [d.record_id for d in plan.deleted_since_sent]
    digest_box: list[str] = []

    def chunks() -> Iterable[bytes]:
        digest = hashlib.sha256()
        for chunk in plan.file_bytes():
            digest.update(chunk)
            yield chunk
        digest_box.append(digest.hexdigest())

    def commit(replace: Callable[[], None]) -> None:
        # Three steps, each safe to be killed after: the batch is committed as "writing"
        # before the rename, so a file renamed into place is never without its batch; it
        # becomes "exported" after. A batch left "writing" is settled by its file's hash
        # (batches.recover_interrupted) at the next export, outbox or start.
        with store.write_transaction() as conn:
            batches.insert_batch(
                conn,
                batch_id=batch_id,
                at=store.now(),
                user=store.user,
                scope=plan.scope.label,
                profile=plan.profile.id,
                path=path,
                sha256=digest_box[0],
                rows=zip(ids, plan.row_hashes, strict=True),
                deleted=deleted,
                state=batches.WRITING,
            )
            _save_cache(conn, plan)
        replace()
        with store.write_transaction() as conn:
            batches.finish_writing(conn, batch_id)

    try:
        with batches.being_written(batch_id):
            sha = atomic_write(path, chunks(), commit=commit)
    except WriteError as exc:
        raise ExportError(str(exc)) from None
    except PermissionError:
        raise ExportError(f"Cannot write {path}: permission denied.") from None
    finally:
        # A failed rename (or a failure after it) leaves a "writing" batch: settle it now, by
        # whether its file arrived; if even that fails, the next export or start settles it.
        try:
            batches.recover_interrupted(store)
        except Exception as exc:  # never hide the write's own error behind this one
            log.warning("settling export batch %s deferred: %s", batch_id, type(exc).__name__)
    log.info(
        "export batch %s written: %d records, %d deletions reported, %d bytes",
        batch_id,
        len(ids),
        len(deleted),
        size,
    )
    return ExportResult(batch_id, path, sha, len(ids), size, len(deleted))


def _save_cache(conn: Any, plan: ExportPlan) -> None:
    if plan.cache_reset:
        conn.exec_driver_sql("DELETE FROM export_row_cache")
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (CACHE_CONTEXT_KEY, plan.cache_context),
        )
    if plan.cache_updates:
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO export_row_cache (record_id, answers_sha, row_bytes, "
            "row_hash, optout_state, sort_key) VALUES (?, ?, ?, ?, ?, ?)",
            plan.cache_updates,
        )


def export(
    store: Store,
    scope: Scope,
    path: Path | None,
    profile: ExportProfile | None = None,
    *,
    dry_run: bool = False,
) -> tuple[ExportPlan, ExportResult | None]:
    """Prepare and write in one go (the CLI). No file and no batch when nothing is to go."""
    plan = prepare(store, scope, profile)
    if plan.is_empty:
        return plan, None
    return plan, write(store, plan, path, dry_run=dry_run)


# ---------------------------------------------------------------------------------------------
# For the form and the status bar
# ---------------------------------------------------------------------------------------------


def was_exported(store: Store, record_id: int) -> bool:
    """Whether this record's row was *sent* (uploaded, or its file marked uploaded in the
    webtool): edits then ask for a reason. A file only saved does not count."""
    with store.engine.connect() as conn:
        return batches.was_sent(conn, record_id)


def days_since_last_sent(store: Store, today: date) -> int | None:
    """Whole days since the newest *sent* batch, or None when nothing was ever sent."""
    day = batches.last_sent_day(store)
    return None if day is None else max(0, (today - day).days)


def days_since_last_export(store: Store, today: date) -> int | None:
    """Whole days since the newest file saved (sent or not), or None when there is none."""
    day = batches.last_export_day(store)
    return None if day is None else max(0, (today - day).days)


OVERDUE_DAYS = 31  # the FLS-DB asks for an upload at least monthly (FAQ 8)


@dataclass(frozen=True)
class SendingAge:
    """The status bar's line about sending: the text, and whether it is overdue (red)."""

    text: str
    overdue: bool


def sending_age(store: Store, today: date) -> SendingAge:
    """Days since the last *sent* batch. A store that has never exported is not overdue
    until it is older than a month (a new store has nothing to send yet)."""
    sent = days_since_last_sent(store, today)
    if sent is not None:
        text = "Sent today" if sent == 0 else f"{sent} day(s) since the last sent export"
        return SendingAge(text, sent > OVERDUE_DAYS)
    saved = days_since_last_export(store, today)
    created = _store_created(store)
    old_store = created is not None and (today - created).days > OVERDUE_DAYS
    if saved is None:
        return SendingAge("Never exported", old_store)
    return SendingAge(
        "Never sent: the saved file is not marked as uploaded (Outbox)",
        saved > OVERDUE_DAYS or old_store,
    )


def _store_created(store: Store) -> date | None:
    with store.engine.connect() as conn:
        value = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'created_at'").scalar()
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone().date()


def last_export_folder(store: Store) -> Path:
    """The folder the newest export was saved in, while it exists; else the home folder."""
    for batch in batches.list_batches(store):
        if batch.scope != batches.EXTERNAL_SCOPE and batch.file_path.parent.is_dir():
            return batch.file_path.parent
    return Path.home()


def default_file_name(store: Store, scope: Scope) -> str:
    """A file name holding no patient data: the date and the scope."""
    stamp = store.now().replace(tzinfo=UTC).astimezone().strftime("%Y-%m-%d")
    suffix = {"since-last": "new-or-changed", "all": "all"}.get(
        scope.kind, f"{scope.year:04d}-{scope.month:02d}"
    )
    return f"flsdb-export-{stamp}-{suffix}.csv"
