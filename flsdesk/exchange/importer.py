"""Import: reading an FLS-DB import CSV (or a webtool export) back into the store.

Spec section 7, "Reading files back". Two steps, so that nothing is written before a person has
seen what would happen:

``read_plan`` reads the file and the store and returns an ``ImportPlan``: per row of the file,
new / updated (with the questions that change) / unchanged / rejected (line, column, reason,
quoting the bad value), with the warnings, and the columns that were ignored. It writes nothing;
a dry run is ``read_plan`` alone.

``apply`` writes a plan in ONE transaction: every valid row or, by default, nothing at all when a
row is rejected (``skip_invalid=True`` applies the valid rows). A plan made before someone else
changed the store is refused rather than applied over their change.

Everything the file format says comes from the export profile (delimiter, date format, multi
joiner, header and answer aliases, the webtool's columns to ignore); every question, answer,
type and key from the dataset definition; what is an error from the rules (``flsdesk.rules``).

Privacy: ``ImportPlan`` holds patient data for the screen and the terminal. The log gets counts
and line numbers only, and no exception raised here carries a value from the file.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, DefinitionSet, Question, parse_iso_date
from flsdesk.exchange import bulk_write
from flsdesk.exchange.profiles import ExportProfile, load_export_profile
from flsdesk.rules import Evaluation, applicability, evaluate, is_answered
from flsdesk.store import audit
from flsdesk.store.records import derive, normalise_answers
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

NEW = "new"
UPDATED = "updated"
UNCHANGED = "unchanged"
REJECTED = "rejected"
OUTCOMES = (NEW, UPDATED, UNCHANGED, REJECTED)

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
WINDOWS_1252 = "windows-1252"

# Beyond any real service's history (50,000 rows are ~10 MB); a bigger file is not an import.
MAX_FILE_BYTES = 256 * 1024 * 1024
# How a bad value is quoted in a reason: enough to recognise it, never a screenful.
QUOTE_LIMIT = 60
# The spec's two date forms for import (section 7): the webtool's dd/mm/yyyy and ISO.
SPEC_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ImportFailed(Exception):
    """The import cannot go ahead. ``str()`` is a sentence for the user holding no patient data
    (safe to log)."""


class ImportCancelled(ImportFailed):
    pass


class RowsRejected(ImportFailed):
    """Some rows are rejected and ``skip_invalid`` was not given: nothing was applied."""


class StoreChanged(ImportFailed):
    """The store changed after the dry run: the plan may no longer be true."""


class Unreadable(ImportFailed):
    pass


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    index: int  # 0-based position in the file
    header: str
    question: str | None  # None: ignored
    how: str  # "number", "short name", "alias", "webtool column", "unknown"

    @property
    def ignored(self) -> bool:
        return self.question is None

    @property
    def reason(self) -> str:
        """Why a column is ignored, for the report."""
        if self.how == "webtool column":
            return "the webtool's own column (listed in the export profile as ignored)"
        if self.how == "duplicate":
            return "a second column for the same question (the first one is read)"
        return "not a question of the dataset, nor a column the export profile knows"


@dataclass(frozen=True)
class Problem:
    line: int
    column: str  # the header of the column, "" for the row as a whole
    question: str | None
    reason: str
    value: str | None = None  # the cell as found in the file (quoted in the report)

    def describe(self) -> str:
        where = f"line {self.line}" + (f', column "{self.column}"' if self.column else "")
        quoted = "" if self.value is None else f" (value {_quote(self.value)})"
        return f"{where}: {self.reason}{quoted}"


@dataclass
class RowResult:
    line: int  # the file line the row starts on (the header is line 1)
    outcome: str
    record_id: int | None = None
    nhs_number: str | None = None
    diagnosed: str | None = None  # ISO
    changed: tuple[str, ...] = ()  # question keys, in the definition's order
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # For apply: the answers to store, the derived columns, the answers replaced.
    answers: dict[str, Any] | None = field(default=None, repr=False)
    derived: dict[str, Any] | None = field(default=None, repr=False)
    old_answers: dict[str, Any] | None = field(default=None, repr=False)
    key: str | None = field(default=None, repr=False)


@dataclass
class ImportPlan:
    path: Path | None
    file_name: str
    encoding: str | None = None
    header_style: str | None = None  # "number_and_short_name", "short_name" or "mixed"
    columns: list[Column] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    unreadable: str | None = None  # why the file cannot be read at all (then no rows)
    fingerprint: tuple[int, int] = (0, 0)  # (newest audit id, records) when planned
    today: date | None = None

    def of(self, outcome: str) -> list[RowResult]:
        return [r for r in self.rows if r.outcome == outcome]

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OUTCOMES, 0)
        for r in self.rows:
            out[r.outcome] += 1
        return out

    @property
    def ignored_columns(self) -> list[Column]:
        return [c for c in self.columns if c.ignored]

    @property
    def rejected(self) -> int:
        return self.counts[REJECTED]

    @property
    def valid(self) -> int:
        return len(self.rows) - self.rejected

    @property
    def warning_count(self) -> int:
        return sum(len(r.warnings) for r in self.rows)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    skipped: int  # rejected rows left out (skip_invalid)
    new_ids: tuple[int, ...] = ()


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """A cell as the report quotes it: control characters shown, long values cut short."""
    text = value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1] + "…"
    return f'"{text}"'


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 (with or without BOM) tried strictly
    first, then Windows-1252; raises Unreadable when neither fits."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unreadable(
            "The file is saved as UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' or "
            "'CSV (Comma delimited)' and import that."
        )
    if b"\x00" in data:
        raise Unreadable("The file holds NUL bytes: it is not a CSV text file.")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode(UTF8_BOM), UTF8_BOM
        except UnicodeDecodeError:
            data = data[3:]  # a BOM in front of Windows-1252 text: the BOM is the slip
    try:
        return data.decode(UTF8), UTF8
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(WINDOWS_1252), WINDOWS_1252
    except UnicodeDecodeError:
        raise Unreadable(
            "The file is neither UTF-8 nor Windows-1252 text; save it as 'CSV UTF-8' and "
            "import that."
        ) from None


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)+)(?=$|[\s_:\-])")


def match_columns(
    header: list[str], definition: Definition, profile: ExportProfile
) -> list[Column]:
    """Each header cell matched by its leading question number, else its short name, else a
    profile alias; otherwise ignored (the webtool's own columns, or unknown)."""
    exported = {q.key for q in definition.exported_questions}
    by_short = {_norm(q.short_name): q.key for q in definition.exported_questions if q.short_name}
    aliases = {
        _norm(text): key
        for text, key in profile.import_header_aliases.items()
        if key in definition.questions
    }
    webtool = {_norm(text) for text in profile.import_ignored_columns}
    columns: list[Column] = []
    taken: set[str] = set()
    for i, raw in enumerate(header):
        text = raw.strip()
        found: tuple[str | None, str] = (None, "unknown")
        m = _NUMBER.match(text)
        if m and m.group(1) in exported:
            found = (m.group(1), "number")
        elif _norm(text) in by_short:
            found = (by_short[_norm(text)], "short name")
        elif _norm(text) in aliases:
            found = (aliases[_norm(text)], "alias")
        elif _norm(text) in webtool:
            found = (None, "webtool column")
        if found[0] is not None and found[0] in taken:
            found = (None, "duplicate")
        if found[0] is not None:
            taken.add(found[0])
        columns.append(Column(i, text, found[0], found[1]))
    return columns


def _header_style(columns: list[Column]) -> str | None:
    hows = {c.how for c in columns if not c.ignored} & {"number", "short name"}
    if hows == {"number"}:
        return "number_and_short_name"
    if hows == {"short name"}:
        return "short_name"
    return "mixed" if hows else None


# ---------------------------------------------------------------------------------------------
# Cells → stored answers (the stored forms of docs/internal-contracts.md, as the form stores)
# ---------------------------------------------------------------------------------------------


class _Cells:
    """Turns a cell into the stored answer for its question. A cell that cannot be read as its
    type is kept as found (``bad`` names the check kind that will report it), so the rules, not
    this class, decide what is an error."""

    def __init__(self, definition: Definition, profile: ExportProfile) -> None:
        self.profile = profile
        self.aliases = dict(profile.import_answer_aliases)
        formats = [profile.date_format, *SPEC_DATE_FORMATS]
        self.date_formats = tuple(dict.fromkeys(formats))
        self.lookup: dict[str, dict[str, str]] = {}
        self.order: dict[str, dict[str, int]] = {}
        for q in definition.questions.values():
            if q.type not in ("single", "multi"):
                continue
            table: dict[str, str] = {}
            for a in q.answers:
                table.setdefault(_norm(a.label), a.label)
                if a.code:
                    table.setdefault(_norm(a.code), a.label)
            for a in q.answers:
                # The definition's own aliases for this question (5.01 "No" = "Not assessed").
                for alias in a.aliases:
                    table.setdefault(_norm(alias), a.label)
            for text, label in self.aliases.items():
                if q.answer(label) is not None:
                    table.setdefault(_norm(text), label)
            self.lookup[q.key] = table
            self.order[q.key] = {a.label: i for i, a in enumerate(q.answers)}
        self._dates: dict[str, str | None] = {}

    def read(self, q: Question, text: str) -> tuple[Any, str | None]:
        """(stored value, None) or (the text as found, the check kind that will reject it)."""
        if q.type == "nhs":
            for special in q.special_answers:
                if text.casefold() == special.casefold():
                    return special, None
            compact = re.sub(r"[\s\-]", "", text)
            if compact.isascii() and compact.isdigit():
                return compact, None
            return text, "nhs_number"
        if q.type == "date":
            for special in q.special_answers:
                if text.casefold() == special.casefold():
                    return special, None
            iso = self._date(text)
            return (iso, None) if iso is not None else (text, "valid_date")
        if q.type == "number":
            return _number(text, self.profile.decimal_mark)
        if q.type == "single":
            label = self._answer(q.key, text)
            return (label, None) if label is not None else (text, "answer_offered")
        if q.type == "multi":
            parts = [p.strip() for p in text.split(self.profile.multi_joiner)]
            labels: list[str] = []
            bad = None
            for part in parts:
                if not part:
                    continue
                label = self._answer(q.key, part)
                if label is None:
                    labels.append(part)
                    bad = "answer_offered"
                elif label not in labels:
                    labels.append(label)
            order = self.order[q.key]
            labels.sort(key=lambda v: order.get(v, len(order)))
            return labels, bad
        return text, None

    def _answer(self, key: str, text: str) -> str | None:
        alias = self.aliases.get(text)
        table = self.lookup[key]
        if alias is not None and _norm(alias) in table:
            return table[_norm(alias)]
        return table.get(_norm(text))

    def _date(self, text: str) -> str | None:
        if text in self._dates:
            return self._dates[text]
        found = None
        for fmt in self.date_formats:
            try:
                found = datetime.strptime(text, fmt).date().isoformat()
                break
            except ValueError:
                continue
        if len(self._dates) < 100_000:
            self._dates[text] = found
        return found


def _number(text: str, mark: str) -> tuple[Any, str | None]:
    cleaned = text.replace("\u2212", "-")  # a typographic minus pasted from a letter
    if mark != ".":
        cleaned = cleaned.replace(mark, ".")
    try:
        return int(cleaned), None
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        return text, "number"
    if value != value or value in (float("inf"), float("-inf")):
        return text, "number"
    return value, None


# ---------------------------------------------------------------------------------------------
# What the rules need from the store, answered from one read of it
# ---------------------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    live_by_key: dict[str, list[int]]
    deleted_by_key: dict[str, list[int]]
    patients: dict[str, list[tuple[date, int]]]  # live records by NHS number
    fingerprint: tuple[int, int]


def _fingerprint(conn: Connection) -> tuple[int, int]:
    # Every change to a record (create, edit, delete, restore, purge) writes an audit entry.
    audit_id = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM audit").scalar()
    records = conn.exec_driver_sql("SELECT COUNT(*) FROM records").scalar()
    return int(audit_id or 0), int(records or 0)


def _snapshot(store: Store) -> _Snapshot:
    live: dict[str, list[int]] = defaultdict(list)
    deleted: dict[str, list[int]] = defaultdict(list)
    patients: dict[str, list[tuple[date, int]]] = defaultdict(list)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, match_key, nhs_number, diagnosed, deleted_at FROM records ORDER BY id"
        ).all()
        fingerprint = _fingerprint(conn)
    for rid, key, nhs, diagnosed, deleted_at in rows:
        if deleted_at is not None:
            if key is not None:
                deleted[key].append(rid)
            continue
        if key is not None:
            live[key].append(rid)
        day = parse_iso_date(str(diagnosed)) if diagnosed is not None else None
        if nhs is not None and day is not None:
            patients[nhs].append((day, rid))
    return _Snapshot(dict(live), dict(deleted), dict(patients), fingerprint)


class _Hooks:
    """``flsdesk.rules.RecordHooks`` over the snapshot (one query for the whole file)."""

    def __init__(self, snapshot: _Snapshot) -> None:
        self.snapshot = snapshot

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        return [i for i in self.snapshot.live_by_key.get(key, ()) if i != record_id]

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        low = diagnosed - timedelta(days=days)
        found = [
            (d, i)
            for d, i in self.snapshot.patients.get(nhs_number, ())
            if i != record_id and low < d < diagnosed
        ]
        return [i for _, i in sorted(found)]


def _load_answers(store: Store, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.exec_driver_sql(
                f"SELECT id, answers FROM records WHERE id IN ({marks})", tuple(chunk)
            ).all()
            for rid, text in rows:
                value = json.loads(text)
                out[rid] = value if isinstance(value, dict) else {}
    return out


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    values: dict[str, Any]  # non-empty cells, as stored answers
    empty: set[str]  # questions whose cell is empty
    bad: dict[str, str]  # question → check kind, for cells kept as found
    raw: dict[str, str]  # question → the cell as found
    problems: list[Problem]


def _check_message(definition: Definition, kind: str, q: Question, value: str) -> str:
    """The definition's own message for a check kind, for a value the rules will not see
    (its question is hidden); a plain sentence when the definition has no such check."""
    for c in definition.checks:
        if c.kind == kind:
            try:
                return c.message.format(label=q.label, value=value, **dict(c.params))
            except (KeyError, IndexError, ValueError):
                return c.message
    return f"{q.label}: this value cannot be read as a {q.type} answer."


def read_plan(
    store: Store,
    path: Path | str,
    profile: ExportProfile | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImportPlan:
    """The dry run of importing ``path``: reads the file and the store, writes nothing.

    Never raises for what the file holds (an unreadable file gives a plan with ``unreadable``
    set); raises ImportCancelled when ``cancel()`` turns true.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Unreadable(
                f"The file is {size // (1024 * 1024)} MB: too large to be an import file."
            )
        data = path.read_bytes()
    except Unreadable as exc:
        return ImportPlan(path, path.name, unreadable=str(exc))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return ImportPlan(path, path.name, unreadable=f"The file cannot be read: {reason}.")
    return plan_bytes(store, data, path.name, profile, path=path, progress=progress, cancel=cancel)


def plan_bytes(
    store: Store,
    data: bytes,
    file_name: str,
    profile: ExportProfile | None = None,
    *,
    path: Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImportPlan:
    """``read_plan`` for bytes already in memory (tests, and files read elsewhere)."""
    profile = profile or load_export_profile(
        store.get_setting("export_profile") or None, store.paths
    )
    plan = ImportPlan(path, file_name)
    try:
        text, plan.encoding = decode(data)
        records = _parse(text, profile)
    except Unreadable as exc:
        plan.unreadable = str(exc)
        log.info("import: file unreadable")
        return plan
    if not records:
        plan.unreadable = "The file is empty: it has no header row."
        return plan
    definition = store.definitions.latest
    (_, header), body = records[0], records[1:]
    plan.columns = match_columns(header, definition, profile)
    plan.header_style = _header_style(plan.columns)
    problem = _missing_key_columns(plan.columns, definition)
    if problem:
        plan.unreadable = problem
        log.info("import: key columns missing")
        return plan
    _plan_rows(store, plan, body, definition, profile, progress, cancel)
    counts = plan.counts
    log.info(
        "import planned: %d rows (%d new, %d updated, %d unchanged, %d rejected), "
        "%d columns ignored, %d warnings, read as %s",
        len(plan.rows),
        counts[NEW],
        counts[UPDATED],
        counts[UNCHANGED],
        counts[REJECTED],
        len(plan.ignored_columns),
        plan.warning_count,
        plan.encoding,
    )
    return plan


def _parse(text: str, profile: ExportProfile) -> list[tuple[int, list[str]]]:
    """(start line, cells) for every non-blank record of the file."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=profile.delimiter,
        quotechar=profile.quote_char,
    )
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                out.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        # The csv module's message names no value (e.g. "field larger than field limit").
        raise Unreadable(
            f"The file cannot be read as CSV at line {reader.line_num}: {exc}."
        ) from None
    return out


def _missing_key_columns(columns: list[Column], definition: Definition) -> str | None:
    present = {c.question for c in columns if not c.ignored}
    missing = [k for k in definition.keys.primary if k not in present]
    if not missing:
        return None
    names = ", ".join(
        f"{k} {definition.questions[k].short_name or definition.questions[k].label}"
        for k in missing
    )
    return (
        f"The file has no column for {names}: records cannot be matched without "
        f"{'it' if len(missing) == 1 else 'them'}. Is this an FLS-DB import file?"
    )


def _plan_rows(
    store: Store,
    plan: ImportPlan,
    body: list[tuple[int, list[str]]],
    definition: Definition,
    profile: ExportProfile,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> None:
    today = store.today()
    plan.today = today
    snapshot = _snapshot(store)
    plan.fingerprint = snapshot.fingerprint
    hooks = _Hooks(snapshot)
    # Each row's cells are read with the dataset version of its own date of diagnosis: the
    # answers offered (and their aliases) differ between versions.
    cells = {d.id: _Cells(d, profile) for d in store.definitions}
    read = [c for c in plan.columns if not c.ignored]
    width = len(plan.columns)
    total = len(body)
    definitions = store.definitions

    def tick(done: int, report: bool) -> None:
        if cancel is not None and done % 250 == 0 and cancel():
            raise ImportCancelled("The import was cancelled; nothing was changed.")
        # Progress counts the rows evaluated (pass 2): reading the cells is the cheap part.
        if report and progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)

    # Pass 1: cells to answers, and each row's key. The key is read from the row's values
    # directly (the key questions apply to every record); pass 2 evaluates each row once and
    # refuses a row whose evaluated key differs.
    parsed: list[tuple[_Row, str | None]] = []
    by_key: dict[str, list[int]] = defaultdict(list)
    for n, (line, row) in enumerate(body, 1):
        tick(n, False)
        r = _read_row(line, row, width, read, cells, definitions)
        key = None
        if not r.problems:
            key = definitions.for_answers(r.values).record_key(r.values, today)
            if key is not None:
                by_key[key].append(len(parsed))
        parsed.append((r, key))

    matched_ids = [
        ids[0]
        for key, ids in snapshot.live_by_key.items()
        if key in by_key and len(ids) == 1 and len(by_key[key]) == 1
    ]
    stored = _load_answers(store, matched_ids)
    columns_of = {c.question: c.header for c in read}
    nhs_role, diagnosed_role = definition.role("nhs_number"), definition.role("diagnosed")

    # Pass 2: match, merge, evaluate what would be stored.
    for n, (r, key) in enumerate(parsed, 1):
        tick(n, True)
        result = RowResult(line=r.line, outcome=REJECTED, problems=list(r.problems))
        plan.rows.append(result)
        if r.problems:
            continue
        result.nhs_number = _text(r.values.get(nhs_role))
        result.diagnosed = _text(r.values.get(diagnosed_role))
        if key is None:
            ev = evaluate(definitions.for_answers(r.values), r.values, today, hooks=hooks)
            result.problems.extend(_key_problems(r, ev, definition, columns_of, today))
            continue
        twins = [parsed[i][0].line for i in by_key[key] if parsed[i][0] is not r]
        if twins:
            others = ", ".join(str(x) for x in twins)
            result.problems.append(
                Problem(
                    r.line,
                    "",
                    None,
                    f"Another row of the file has the same {_key_words(definition, key)} "
                    f"(line {others}): both are rejected; keep one.",
                )
            )
            continue
        live = snapshot.live_by_key.get(key, [])
        if len(live) > 1:
            result.problems.append(
                Problem(
                    r.line,
                    "",
                    None,
                    f"It matches {len(live)} records here ({', '.join(map(str, live))}), "
                    "possible duplicates of each other: correct or delete one of them first.",
                )
            )
            continue
        if not live and key in snapshot.deleted_by_key:
            rid = snapshot.deleted_by_key[key][0]
            result.record_id = rid
            result.problems.append(
                Problem(
                    r.line,
                    "",
                    None,
                    f"It matches record {rid}, which is in the deleted view: restore it first "
                    "(or leave this row out).",
                )
            )
            continue
        record_id = live[0] if live else None
        old = stored.get(record_id, {}) if record_id is not None else {}
        result.record_id = record_id
        final, final_def, final_ev = _merge(r, old, definitions, today, hooks, record_id)
        result.warnings.extend(_hidden_warnings(r, final_ev, columns_of))
        result.warnings.extend(_messages(final_ev, r, columns_of, final_ev.warnings))
        bad_hidden = _bad_hidden(r, final_ev, final_def, columns_of)
        if final_ev.errors or bad_hidden:
            result.problems.extend(_messages(final_ev, r, columns_of, final_ev.errors))
            result.problems.extend(bad_hidden)
            continue
        if final_ev.key != key:
            # Cannot happen with the bundled definition (the key questions come from the row);
            # a service's definition could make the key depend on a stored answer.
            result.problems.append(
                Problem(r.line, "", None, "Its values would change the record's key: not applied.")
            )
            continue
        result.key = key
        result.answers = final
        result.derived = derive(final_def, final_ev, today)
        if record_id is None:
            result.outcome = NEW
            continue
        result.old_answers = old
        order = {k: i for i, k in enumerate(definition.questions)}
        changed = [
            e["question"]
            for e in audit.changes(old, final, datetime.min, "", record_id, None)
            if e["question"] is not None
        ]
        result.changed = tuple(sorted(changed, key=lambda k: order.get(k, len(order))))
        result.outcome = UPDATED if result.changed else UNCHANGED


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_row(
    line: int,
    row: list[str],
    width: int,
    read: list[Column],
    cells: Mapping[str, _Cells],
    definitions: DefinitionSet,
) -> _Row:
    r = _Row(line, {}, set(), {}, {}, [])
    if len(row) > width and any(c.strip() for c in row[width:]):
        r.problems.append(
            Problem(
                line,
                "",
                None,
                f"The row has {len(row)} cells; the header has {width}: a cell may hold an "
                "unquoted comma.",
            )
        )
        return r
    if len(row) < width:
        r.problems.append(
            Problem(
                line,
                "",
                None,
                f"The row has {len(row)} cells; the header has {width}: the row is cut short.",
            )
        )
        return r
    latest = definitions.latest
    definition = _row_definition(row, read, cells[latest.id], definitions)
    for c in read:
        key = str(c.question)
        raw = row[c.index]
        text = raw.strip()
        if not text:
            r.empty.add(key)
            continue
        # A question the row's version lacks is read as the newest defines it.
        version = definition if key in definition.questions else latest
        value, bad = cells[version.id].read(version.questions[key], text)
        r.raw[key] = raw
        if bad is not None:
            r.bad[key] = bad
        if is_answered(value):
            r.values[key] = value
        else:
            r.empty.add(key)
    return r


def _row_definition(
    row: list[str], read: list[Column], cells: _Cells, definitions: DefinitionSet
) -> Definition:
    """The dataset version for the row's date of diagnosis (the newest while it is unknown)."""
    latest = definitions.latest
    role = latest.role("diagnosed")
    for c in read:
        if c.question == role:
            value, _ = cells.read(latest.questions[role], row[c.index].strip())
            return definitions.for_answers({role: value})
    return latest


def _merge(
    r: _Row,
    old: Mapping[str, Any],
    definitions: DefinitionSet,
    today: date,
    hooks: _Hooks,
    record_id: int | None,
) -> tuple[dict[str, Any], Definition, Evaluation]:
    """The answers to store: the record's, the file's values over them, and each empty cell
    clearing its question when the question applies (a kept hidden answer stays)."""
    if record_id is None:
        # A new record: the row's own answers (no live record has its key).
        definition = definitions.for_answers(r.values)
        return dict(r.values), definition, evaluate(definition, r.values, today, hooks=hooks)
    final = dict(old)
    for key, value in r.values.items():
        before = final.get(key)
        # The same choices in another order are the same answer: keep what is stored.
        if isinstance(value, list) and isinstance(before, list) and sorted(value) == sorted(before):
            continue
        final[key] = value
    # Decide the empty cells on the answers without them: a question an empty cell leaves
    # applying is cleared; one that does not apply keeps its stored (hidden) answer, which
    # counts as absent everywhere, so keeping it changes nobody's applicability.
    tentative = {k: v for k, v in final.items() if k not in r.empty}
    definition = definitions.for_answers(tentative)
    applies, _, _ = applicability(definition, tentative, today)
    for key in r.empty:
        if key in final and applies.get(key, True):
            del final[key]
    final = normalise_answers(final)
    definition = definitions.for_answers(final)
    return final, definition, evaluate(definition, final, today, hooks=hooks, record_id=record_id)


def _key_words(definition: Definition, key: str) -> str:
    parts = key.split("|")
    keys = [p.split("=", 1)[0] for p in parts]
    return " + ".join(definition.questions[k].label for k in keys if k in definition.questions)


def _key_problems(
    r: _Row, ev: Evaluation, definition: Definition, columns_of: Mapping[str, str], today: date
) -> list[Problem]:
    """A row whose key cannot be made: the rules' errors say why when they can (a missing NHS
    number); for the fallback keys (OVERSEAS) this says which answer is needed."""
    found = _messages(ev, r, columns_of, ev.errors)
    if found:
        return found
    spec = definition.keys
    parts = spec.primary
    if spec.fallback_when is not None and cond.holds(
        spec.fallback_when, ev.effective.get, today, definition.tags_of, parse_iso_date
    ):
        parts = spec.fallback
    missing = [k for k in parts if ev.effective.get(k) is None]
    labels = ", ".join(f"{k} {definition.questions[k].label}" for k in missing) or "its key"
    return [
        Problem(
            r.line,
            columns_of.get(missing[0], "") if missing else "",
            missing[0] if missing else None,
            f"The record cannot be matched without {labels}.",
            r.raw.get(missing[0], "") if missing else None,
        )
    ]


def _messages(
    ev: Evaluation,
    r: _Row,
    columns_of: Mapping[str, str],
    bucket: Mapping[str, list[Any]],
) -> list[Problem]:
    out: list[Problem] = []
    for question, messages in bucket.items():
        column = columns_of.get(question, "")
        value: str | None = r.raw.get(question)
        if value is None and column:
            value = ""  # an empty cell: quoted as "" so the reader sees it was empty
        for m in messages:
            reason = m.text if column else f"{question}: {m.text} (the answer stored here)"
            out.append(Problem(r.line, column, question, reason, value if column else None))
    return out


def _hidden_warnings(r: _Row, ev: Evaluation, columns_of: Mapping[str, str]) -> list[Problem]:
    out = []
    for key in r.values:
        if not ev.applies.get(key, True):
            q = ev.definition.questions[key]
            out.append(
                Problem(
                    r.line,
                    columns_of.get(key, ""),
                    key,
                    f"{q.label} does not apply to this record (the form hides it): the value "
                    "is kept, hidden, and counts as not answered.",
                    r.raw.get(key),
                )
            )
    return out


def _bad_hidden(
    r: _Row, ev: Evaluation, definition: Definition, columns_of: Mapping[str, str]
) -> list[Problem]:
    """A value the rules will not check (its question is hidden) must still be a value of the
    question's type: a typo is never stored, hidden or not."""
    out = []
    for key, kind in r.bad.items():
        if ev.applies.get(key, True):
            continue  # the rules have already reported it
        q = definition.questions[key]
        raw = r.raw.get(key, "")
        out.append(
            Problem(
                r.line,
                columns_of.get(key, ""),
                key,
                _check_message(definition, kind, q, raw.strip()),
                raw,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Applying
# ---------------------------------------------------------------------------------------------


def audit_reason(file_name: str) -> str:
    return f"import of {file_name}"


def apply(
    store: Store,
    plan: ImportPlan,
    *,
    skip_invalid: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    was_exported: Callable[[Store, int], bool] | None = None,
) -> ImportResult:
    """Write the plan in one transaction; nothing at all when it fails or is cancelled."""
    if plan.unreadable:
        raise Unreadable(plan.unreadable)
    counts = plan.counts
    if counts[REJECTED] and not skip_invalid:
        raise RowsRejected(
            f"{counts[REJECTED]} row(s) are rejected, so nothing was imported. Correct them, or "
            "apply the valid rows only."
        )
    if was_exported is None:
        from flsdesk.exchange.export import was_exported as exported_check

        was_exported = exported_check
    reason = audit_reason(plan.file_name)
    creates = [
        bulk_write.NewRecord(r.answers or {}, r.derived or {})
        for r in plan.rows
        if r.outcome == NEW
    ]
    changes = [
        bulk_write.Change(
            int(r.record_id or 0),
            r.old_answers or {},
            r.answers or {},
            r.derived or {},
            # An edit to a record the webtool already has needs a reason, as in the form.
            reason if was_exported(store, int(r.record_id or 0)) else None,
        )
        for r in plan.rows
        if r.outcome == UPDATED
    ]

    def check(conn: Connection) -> None:
        if _fingerprint(conn) != plan.fingerprint:
            raise StoreChanged(
                "Records were changed since this file was checked; check the file again before "
                "importing it."
            )

    try:
        ids = bulk_write.write_many(
            store, creates, changes, check=check, progress=progress, cancel=cancel
        )
    except bulk_write.WriteCancelled:
        log.info("import cancelled: nothing changed")
        raise ImportCancelled("The import was cancelled; nothing was changed.") from None
    result = ImportResult(
        created=len(ids),
        updated=len(changes),
        unchanged=counts[UNCHANGED],
        skipped=counts[REJECTED],
        new_ids=tuple(ids),
    )
    log.info(
        "import applied: %d created, %d updated, %d unchanged, %d rejected rows skipped",
        result.created,
        result.updated,
        result.unchanged,
        result.skipped,
    )
    return result


# ---------------------------------------------------------------------------------------------
# The report (terminal; the window shows the same plan in a table)
# ---------------------------------------------------------------------------------------------

HEADER_STYLE_WORDS = {
    "number_and_short_name": "number and short name",
    "short_name": "short name only",
    "mixed": "mixed",
}


def day_text(iso: str | None) -> str:
    parsed = parse_iso_date(iso)
    return parsed.strftime("%d/%m/%Y") if parsed else "-"


def row_summary(r: RowResult) -> str:
    """One row's outcome in a sentence (the table's "details" column uses it too)."""
    who = f"NHS {r.nhs_number or '-'}, diagnosed {day_text(r.diagnosed)}"
    if r.outcome == NEW:
        return f"new record ({who})"
    if r.outcome == UPDATED:
        return f"record {r.record_id} ({who}): {', '.join(r.changed)} changed"
    if r.outcome == UNCHANGED:
        return f"record {r.record_id} ({who}): unchanged"
    return "; ".join(p.describe().split(": ", 1)[-1] for p in r.problems) or "rejected"


def report_lines(plan: ImportPlan) -> list[str]:
    if plan.unreadable:
        return [f"{plan.file_name}: {plan.unreadable}"]
    counts = plan.counts
    style = HEADER_STYLE_WORDS.get(plan.header_style or "", "-")
    lines = [f"Import of {plan.file_name} (read as {plan.encoding}; header: {style})"]
    rejected = plan.of(REJECTED)
    if rejected:
        lines.append("")
        lines.append(f"Rejected ({len(rejected)}):")
        for r in rejected:
            for p in r.problems:
                lines.append(f"  {p.describe()}")
    for outcome, title in ((UPDATED, "Updated"), (NEW, "New"), (UNCHANGED, "Unchanged")):
        rows = plan.of(outcome)
        if rows:
            lines.append("")
            lines.append(f"{title} ({len(rows)}):")
            lines.extend(f"  line {r.line}: {row_summary(r)}" for r in rows)
    warned = [(r, w) for r in plan.rows for w in r.warnings]
    if warned:
        lines.append("")
        lines.append(f"Warnings ({len(warned)}; they never block the import):")
        lines.extend(f"  {w.describe()}" for _, w in warned)
    ignored = plan.ignored_columns
    if ignored:
        lines.append("")
        lines.append(f"Ignored columns ({len(ignored)}):")
        lines.extend(f'  column {c.index + 1} "{c.header}": {c.reason}' for c in ignored)
    lines.append("")
    lines.append(
        f"{counts[NEW]} new, {counts[UPDATED]} updated, {counts[UNCHANGED]} unchanged, "
        f"{counts[REJECTED]} rejected; {len(ignored)} column(s) ignored."
    )
    return lines
