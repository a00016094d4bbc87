"""The National Data Opt-out workflow (FAQ 5, 6).

1. ``write_unchecked_list``: the NHS numbers whose opt-out status is not yet checked, as a
   one-column CSV for the information-governance team (the list is remembered in the store, so
   reading the answer back marks exactly the records it covered).
2. ``read_result`` + ``apply_result``: their answer, a list of the opted-out NHS numbers, marks
   every covered record at once — opted out or not, with the date — through ``Store.save`` so the
   audit trail has it.
3. ``sent_then_opted_out``: records already sent to the FLS-DB for patients who have since opted
   out ("ask the FLS-DB to remove these").

Which local fields hold the status and date, and which answers mean "opted out" or "checked",
come from the definition (roles ``optout_status`` / ``optout_date``, the answer tag
``opted_out``, and the date's own applies_when): nothing here knows a label.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select, update

from flsdesk import conditions as cond
from flsdesk import spreadsheet
from flsdesk.answers import nhs_digits, nhs_number_valid
from flsdesk.dataset import Definition, parse_iso_date
from flsdesk.exchange import batches
from flsdesk.exchange.sql import OPTOUT_LOCK, Raw, exchange_lock
from flsdesk.files import atomic_write
from flsdesk.rules import applicability
from flsdesk.store.models import OptoutList
from flsdesk.store.roles import Role
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

OPTED_OUT_TAG = "opted_out"
CHECK_REASON = "National Data Opt-out check"
LIST_HEADER = "NHS number"

lists_table = cast(Table, OptoutList.__table__)


class OptoutError(ValueError):
    """A sentence for the user (never holds an NHS number: it may be logged)."""


@dataclass(frozen=True)
class OptoutFields:
    """The definition's opt-out fields and the answers that mean what."""

    status: str  # the local field's key
    date: str
    opted_out: str  # the answer label tagged opted_out
    not_opted_out: str  # the first answer that is a check (the date applies) without the tag
    checked: frozenset[str]  # every answer that records a check

    @classmethod
    def of(cls, definition: Definition) -> OptoutFields:
        status_key = definition.role("optout_status")
        date_key = definition.role("optout_date")
        status_q = definition.questions[status_key]
        date_q = definition.questions[date_key]

        def is_check(label: str) -> bool:
            # An answer is a check when the "checked on" date applies under it.
            if date_q.applies_when is None:
                return True
            values = {status_key: label}
            return cond.holds(
                date_q.applies_when, values.get, date.today(), definition.tags_of, parse_iso_date
            )

        opted = [a.label for a in status_q.answers if OPTED_OUT_TAG in a.tags]
        checked = [a.label for a in status_q.answers if is_check(a.label)]
        not_opted = [label for label in checked if label not in opted]
        if not opted or not not_opted:
            raise OptoutError(
                f"The dataset definition's opt-out field '{status_key}' needs an answer tagged "
                f"'{OPTED_OUT_TAG}' and another answer under which '{date_key}' applies."
            )
        return cls(status_key, date_key, opted[0], not_opted[0], frozenset(checked))

    def state(self, effective: Mapping[str, Any]) -> str:
        """ "opted_out", "checked" or "unchecked" for a record's effective answers."""
        value = effective.get(self.status)
        if value in self.checked:
            return "opted_out" if value == self.opted_out else "checked"
        return "unchecked"


@dataclass(frozen=True)
class UncheckedList:
    path: Path
    count: int  # NHS numbers in the file
    records: int  # records they cover
    list_id: int


def unchecked_numbers(store: Store) -> tuple[list[str], int]:
    """The distinct valid NHS numbers of live records whose opt-out is not checked, sorted, and
    how many records they cover. OVERSEAS patients cannot be checked by NHS number."""
    numbers: set[str] = set()
    covered = 0
    for _rid, nhs, fields, effective in _live(store):
        if fields.state(effective) == "unchecked" and nhs and nhs_number_valid(nhs):
            numbers.add(nhs)
            covered += 1
    return sorted(numbers), covered


def write_unchecked_list(store: Store, path: Path) -> UncheckedList:
    """Save the one-column CSV (owner-only, written atomically) and remember the list.

    One PC of the team at a time, and never while another applies a result (which would change
    which records are unchecked under the list being made)."""
    store.require(Role.ADMIN, "saving the opt-out list")
    with exchange_lock(store.engine, OPTOUT_LOCK):
        return _write_unchecked_list(store, path)


def _write_unchecked_list(store: Store, path: Path) -> UncheckedList:
    numbers, covered = unchecked_numbers(store)
    if not numbers:
        raise OptoutError("Every record's opt-out status has been checked: there is no list.")
    # Opened in a spreadsheet by the IG team: the one writer of such files makes every cell safe.
    data = spreadsheet.csv_text([[LIST_HEADER], *([n] for n in numbers)]).encode("utf-8")

    list_id: list[int] = []

    def commit(replace: Callable[[], None]) -> None:
        with store.write_transaction(Role.ADMIN) as conn:
            inserted = conn.execute(
                insert(lists_table).values(
                    created_at=store.now(),
                    created_by=store.user,
                    nhs_numbers=json.dumps(numbers),
                )
            ).inserted_primary_key
            assert inserted is not None  # an INSERT always has its new key
            list_id.append(int(inserted[0]))
            replace()

    atomic_write(path, [data], commit=commit)
    log.info("opt-out list %d saved: %d NHS numbers", list_id[0], len(numbers))
    return UncheckedList(path, len(numbers), covered, list_id[0])


def read_result(path: Path) -> tuple[set[str], list[int]]:
    """The opted-out NHS numbers in the first column of the IG team's file, and the line numbers
    of lines that are neither a header nor an NHS number (shown to the user, never logged)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OptoutError(f"The file cannot be read ({exc.strerror}).") from None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    found: set[str] = set()
    odd: list[int] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        cell = row[0] if row else ""
        digits = nhs_digits(cell)
        if digits is not None and nhs_number_valid(digits):
            found.add(digits)
        elif digits is None and (number == 1 or not cell.replace("-", "").strip()):
            continue  # the header line, or a blank one
        else:
            odd.append(number)
    return found, odd


@dataclass(frozen=True)
class OptoutApplied:
    opted_out: int  # records marked opted out
    not_opted_out: int  # records marked checked, not opted out
    unknown_numbers: int  # numbers in the result that match no record
    sent_then_opted_out: list[SentOptedOut]


def _latest_open_list(store: Store) -> tuple[int, list[str]] | None:
    t = lists_table.c
    with store.engine.connect() as conn:
        row = conn.execute(
            select(t.id, t.nhs_numbers)
            .where(t.result_read_at.is_(None))
            .order_by(t.id.desc())
            .limit(1)
        ).first()
    return None if row is None else (row[0], json.loads(row[1]))


def apply_result(
    store: Store,
    opted_out: set[str],
    checked_on: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> OptoutApplied:
    """Mark every record the list covered: opted out when its NHS number is in ``opted_out``,
    checked and not opted out otherwise, with the date. A record of a patient in ``opted_out``
    is marked opted out even if it was checked before (a patient may opt out later).

    The records covered are those of the last list saved and not yet read back; with no such
    list (handed over some other way), every record not yet checked.

    One PC of the team at a time: a second PC applying an answer waits, then works from what
    the first one left (the list it read back is closed, the records it marked are checked), so
    no record is marked twice from two PCs at once.
    """
    store.require(Role.ADMIN, "reading back the opt-out answer")
    with exchange_lock(store.engine, OPTOUT_LOCK):
        return _apply_result(store, opted_out, checked_on, progress)


def _apply_result(
    store: Store,
    opted_out: set[str],
    checked_on: date | None,
    progress: Callable[[int, int], None] | None,
) -> OptoutApplied:
    day = (checked_on or store.today()).isoformat()
    pending = _latest_open_list(store)
    covered = set(pending[1]) if pending else None
    changes: list[tuple[int, bool, dict[str, Any]]] = []
    matched: set[str] = set()
    for rid, nhs, fields, effective in _live(store):
        if not nhs:
            continue
        state = fields.state(effective)
        if nhs in opted_out:
            matched.add(nhs)
            if state != "opted_out":
                changes.append((rid, True, {fields.status: fields.opted_out, fields.date: day}))
        elif state == "unchecked" and (covered is None or nhs in covered):
            changes.append((rid, False, {fields.status: fields.not_opted_out, fields.date: day}))
    marked_out = marked_in = 0
    for done, (rid, is_out, values) in enumerate(changes, 1):
        loaded = store.load(rid)
        answers = dict(loaded.answers)
        answers.update(values)
        # Based on the version just read: another window's edit in between is merged, not lost.
        store.save(
            rid,
            answers,
            reason=CHECK_REASON,
            base_version=loaded.version,
            base_answers=loaded.answers,
        )
        marked_out += is_out
        marked_in += not is_out
        if progress:
            progress(done, len(changes))
    if pending:
        with store.write_transaction(Role.ADMIN) as conn:
            conn.execute(
                update(lists_table)
                .where(lists_table.c.id == pending[0])
                .values(result_read_at=store.now())
            )
    log.info("opt-out result applied: %d opted out, %d not opted out", marked_out, marked_in)
    return OptoutApplied(
        opted_out=marked_out,
        not_opted_out=marked_in,
        unknown_numbers=len(opted_out - matched),
        sent_then_opted_out=sent_then_opted_out(store),
    )


@dataclass(frozen=True)
class SentOptedOut:
    record_id: int
    nhs_number: str | None
    diagnosed: date | None
    name: str | None
    last_sent: datetime  # naive UTC


def sent_then_opted_out(store: Store) -> list[SentOptedOut]:
    """Live records marked opted out whose row was sent in some export: the FLS-DB still holds
    them, and the service must ask for their removal (FAQ 6)."""
    with store.engine.connect() as conn:
        events = batches.last_sent_times(conn)
    out: list[SentOptedOut] = []
    for rid, nhs, fields, effective in _live(store):
        if rid in events and fields.state(effective) == "opted_out":
            role = store.definitions.for_answers(effective).role
            out.append(
                SentOptedOut(
                    rid,
                    nhs,
                    parse_iso_date(effective.get(role("diagnosed"))),
                    effective.get(role("patient_name")),
                    events[rid],
                )
            )
    return out


def _live(store: Store) -> list[tuple[int, str | None, OptoutFields, dict[str, Any]]]:
    """(id, NHS number, opt-out fields, effective answers) of every live record."""
    today = store.today()
    fields_by_def: dict[str, OptoutFields] = {}
    out = []
    with store.engine.connect() as conn:
        raw = Raw(conn)
        rows = raw.execute(
            f"SELECT id, nhs_number, {raw.answers} FROM records WHERE +deleted_at IS NULL "
            "ORDER BY id"
        ).fetchall()
    for rid, nhs, text in rows:
        answers = json.loads(text)
        definition = store.definitions.for_answers(answers)
        fields = fields_by_def.get(definition.id)
        if fields is None:
            fields = fields_by_def[definition.id] = OptoutFields.of(definition)
        _, _, effective = applicability(definition, answers, today)
        out.append((rid, nhs, fields, effective))
    return out
