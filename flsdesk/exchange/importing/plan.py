"""The dry run: per row of the file, new / updated / unchanged / rejected, and why.

Each row is read with the dataset version of its own date of diagnosis, matched by its key
against one snapshot of the store, merged over the stored answers and evaluated by the rules
(``flsdesk.rules``), which alone decide what is an error. Writes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, DefinitionSet, Question, parse_iso_date
from flsdesk.exchange.importing.cells import CellReader
from flsdesk.exchange.importing.model import (
    NEW,
    REJECTED,
    UNCHANGED,
    UPDATED,
    CancelFn,
    Column,
    ImportCancelled,
    ImportPlan,
    Problem,
    ProgressFn,
    RowResult,
    Unreadable,
)
from flsdesk.exchange.importing.read import (
    MAX_FILE_BYTES,
    decode,
    header_style_of,
    match_columns,
    missing_key_columns,
    parse_csv,
)
from flsdesk.exchange.importing.snapshot import SnapshotHooks, load_answers, take_snapshot
from flsdesk.exchange.profiles import ExportProfile, load_export_profile
from flsdesk.rules import Evaluation, applicability, evaluate, is_answered
from flsdesk.store import audit
from flsdesk.store.records import derive, normalise_answers
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")


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
        records = parse_csv(text, profile)
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
    plan.header_style = header_style_of(plan.columns)
    problem = missing_key_columns(plan.columns, definition)
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
    snapshot = take_snapshot(store)
    plan.fingerprint = snapshot.fingerprint
    hooks = SnapshotHooks(snapshot)
    # Each row's cells are read with the dataset version of its own date of diagnosis: the
    # answers offered (and their aliases) differ between versions.
    cells = {d.id: CellReader(d, profile) for d in store.definitions}
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
    stored = load_answers(store, matched_ids)
    columns_of = {c.question: c.header for c in read if c.question is not None}
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
    cells: Mapping[str, CellReader],
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
    row: list[str], read: list[Column], cells: CellReader, definitions: DefinitionSet
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
    hooks: SnapshotHooks,
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
