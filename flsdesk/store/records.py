"""Records: what a saved record looks like to callers, and how its indexed columns are derived.

Every question number used here comes from ``Definition.roles``: the dataset is data, and a
corrected definition file must not need a code change.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, select, text

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, DefinitionSet, parse_iso_date
from flsdesk.rules import Evaluation, RecordHooks, evaluate, is_answered
from flsdesk.store.errors import StoreError
from flsdesk.store.models import Record

DELETE_REASONS: tuple[str, ...] = (
    "Duplicate",
    "Not an FLS patient",
    "Patients age less than 50",
    "Test record",
    "Other",
)
DELETE_REASON_NEEDING_NOTE = "Other"
# How long a deleted record stays restorable before the start-up purge removes it.
RETENTION_DAYS = 30

records_table = cast(Table, Record.__table__)  # typed as a Table, which it is


class RecordNotFound(LookupError):
    """No record with that id (or it has been purged)."""

    def __init__(self, record_id: int) -> None:
        super().__init__(f"There is no record {record_id}.")
        self.record_id = record_id


@dataclass(frozen=True)
class StoredRecord:
    id: int
    uuid: str
    answers: dict[str, Any]
    dataset_id: str
    status: str
    has_errors: bool
    missing_count: int
    match_key: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    deleted_at: datetime | None = None
    deleted_reason: str | None = None
    deleted_note: str | None = None
    version: int = 1  # pass it back as ``base_version`` when saving what was loaded

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class Conflict:
    """A question changed both by this save and, since its base version, by someone else, to
    different values. Nothing of it was written: the stored answer is still ``theirs``."""

    question: str
    mine: Any  # None: this save clears it
    theirs: Any  # None: they cleared it
    base: Any
    changed_by: str | None  # from the audit trail: the last change of this question
    changed_at: datetime | None  # UTC


@dataclass(frozen=True)
class SaveResult:
    """What a versioned save did (``Store.save_versioned``)."""

    evaluation: Evaluation
    version: int  # the record's version now: the base of the next save
    answers: dict[str, Any]  # the answers now stored: the base answers of the next save
    # Questions someone else changed since the base, kept as they stored them; a form shows them.
    theirs: tuple[str, ...]
    conflicts: tuple[Conflict, ...]

    @property
    def merged(self) -> bool:
        """True when the save was based on an older version than the one it found."""
        return bool(self.theirs or self.conflicts)


class SaveConflict(Exception):
    """``Store.save(..., base_version=...)`` found questions changed on both sides; the rest of
    the save was written, those questions were not (``result.conflicts``)."""

    def __init__(self, result: SaveResult) -> None:
        keys = ", ".join(c.question for c in result.conflicts)
        super().__init__(f"Changed by someone else meanwhile, not saved: {keys}.")
        self.result = result


def same_answer(a: Any, b: Any) -> bool:
    """The same choices in another order are the same answer; unanswered forms are equal."""
    if not is_answered(a) or not is_answered(b):
        return not is_answered(a) and not is_answered(b)
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return bool(a == b)


def three_way(
    base: Mapping[str, Any] | None, mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Merge a save based on ``base`` into the stored ``theirs``.

    Returns the answers to store, the questions taken from theirs (changed by them only) and the
    conflicts (changed on both sides to different values: theirs is kept). With no base known,
    every question on which the two differ is a conflict: nobody's answer is overwritten blind.
    """
    merged: dict[str, Any] = {}
    taken: list[str] = []
    conflicts: list[str] = []
    for key in sorted(set(mine) | set(theirs) | set(base or {})):
        m, t = mine.get(key), theirs.get(key)
        if same_answer(m, t):
            merged[key] = t if is_answered(t) else m
            continue
        b = base.get(key) if base is not None else None
        if base is not None and same_answer(m, b):
            merged[key] = t  # only they changed it
            taken.append(key)
        elif base is not None and same_answer(t, b):
            merged[key] = m  # only this save changed it
        else:
            merged[key] = t
            conflicts.append(key)
    return normalise_answers(merged), taken, conflicts


@dataclass(frozen=True)
class DeletedRecord:
    id: int
    uuid: str
    nhs_number: str | None
    name: str | None
    diagnosed: date | None
    deleted_at: datetime
    reason: str
    note: str | None
    days_left: int  # whole days before the start-up purge may remove it


@dataclass(frozen=True)
class DuplicatePair:
    first: int  # the lower id
    second: int
    match_key: str


def reserve_record_ids(conn: Connection, count: int) -> list[int]:
    """Ids for ``count`` new records, to be inserted with them (bulk insert, import), inside the
    caller's write transaction.

    SQLite: the next ids after the highest (the write lock keeps them free until the commit).
    PostgreSQL: taken from the id sequence, so that the rows inserted with an explicit id never
    collide with the next plain insert; a rolled-back import leaves a gap in the ids, no more.
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        return list(
            conn.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('records', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        )
    next_id = int(conn.scalar(select(func.max(records_table.c.id))) or 0) + 1
    return list(range(next_id, next_id + count))


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def normalise_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the unanswered forms (None, "", []) so that they never show as changes."""
    return {str(k): v for k, v in answers.items() if is_answered(v)}


def check_delete_reason(reason: str, note: str | None) -> str | None:
    """Validate a deletion reason; returns the note to store (stripped, None when blank)."""
    if reason not in DELETE_REASONS:
        raise ValueError(
            f"'{reason}' is not a deletion reason; choose one of: {', '.join(DELETE_REASONS)}."
        )
    text = (note or "").strip() or None
    if reason == DELETE_REASON_NEEDING_NOTE and text is None:
        raise ValueError(
            f"Deleting a record for the reason '{DELETE_REASON_NEEDING_NOTE}' needs a note "
            "saying why."
        )
    return text


# ---------------------------------------------------------------------------------------------
# The duplicate-key and re-fracture look-ups the rules ask of the store
# ---------------------------------------------------------------------------------------------


class StoreHooks:
    """``flsdesk.rules.RecordHooks`` over the live records, inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        t = records_table.c
        query = select(t.id).where(and_(t.match_key == key, t.deleted_at.is_(None)))
        if record_id is not None:
            query = query.where(t.id != record_id)
        return list(self._conn.scalars(query.order_by(t.id)))

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        t = records_table.c
        query = select(t.id).where(
            and_(
                t.nhs_number == nhs_number,
                t.deleted_at.is_(None),
                t.diagnosed < diagnosed,
                t.diagnosed > diagnosed - timedelta(days=days),
            )
        )
        if record_id is not None:
            query = query.where(t.id != record_id)
        return list(self._conn.scalars(query.order_by(t.diagnosed, t.id)))


class BatchHooks(StoreHooks):
    """Also sees the records of a bulk insert that are evaluated but not yet written."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.pending_keys: dict[str, list[int]] = defaultdict(list)
        self.pending_patients: dict[str, list[tuple[date, int]]] = defaultdict(list)
        self.clashes: set[str] = set()

    def add(self, record_id: int, key: str | None, nhs: str | None, diagnosed: date | None) -> None:
        if key is not None:
            self.pending_keys[key].append(record_id)
        if nhs is not None and diagnosed is not None:
            self.pending_patients[nhs].append((diagnosed, record_id))

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        found = super().same_key(key, record_id)
        found += [i for i in self.pending_keys.get(key, ()) if i != record_id]
        if found:
            # The records found were evaluated without this one: re-evaluate after the batch.
            self.clashes.add(key)
        return found

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        found = super().earlier_same_patient(nhs_number, diagnosed, days, record_id)
        low = diagnosed - timedelta(days=days)
        return found + [
            i
            for d, i in self.pending_patients.get(nhs_number, ())
            if i != record_id and low < d < diagnosed
        ]


# ---------------------------------------------------------------------------------------------
# Derived columns
# ---------------------------------------------------------------------------------------------


# Part of the store's definitions fingerprint: raise it when derive() or the rules' code starts
# computing something else from the same answers and definitions, so every store re-derives.
DERIVATION_VERSION = 1

# The columns derive() fills, in the order of the records table.
DERIVED_COLUMNS: tuple[str, ...] = (
    "dataset_id",
    "nhs_number",
    "diagnosed",
    "date_of_birth",
    "gender",
    "site",
    "name",
    "hospital_number",
    "match_key",
    "status",
    "has_errors",
    "missing_count",
    "followup_applies",
    "fu16_closed",
    "fu52_closed",
    "followup_ended",
    "bone_therapy",
    "bone_therapy_drug",
    "evaluated_on",
)


def answers_from_json(text: str) -> dict[str, Any]:
    """A record's stored answers document."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError("A record in the store is damaged (its answers are not a document).")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _labels_in_order(definition: Definition, key: str, value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value] if is_answered(value) else []
    question = definition.questions.get(key)
    order = {a.label: i for i, a in enumerate(question.answers)} if question else {}
    return sorted((str(v) for v in values), key=lambda v: (order.get(v, len(order)), v))


def derive(definition: Definition, ev: Evaluation, today: date) -> dict[str, Any]:
    """The indexed columns of a record, from its evaluation (hidden answers count as absent)."""
    role = definition.role
    eff = ev.effective
    sites = definition.roles["fracture_sites"]
    therapy_key = role("bone_therapy")
    therapy = _labels_in_order(definition, therapy_key, eff.get(therapy_key))
    followup_tab = definition.questions[role("followup_16")].tab
    return {
        "dataset_id": definition.id,
        "nhs_number": _text(eff.get(role("nhs_number"))),
        "diagnosed": parse_iso_date(eff.get(role("diagnosed"))),
        "date_of_birth": parse_iso_date(eff.get(role("date_of_birth"))),
        "gender": _text(eff.get(role("gender"))),
        "site": _text(eff.get(sites[0])) if sites else None,
        "name": _text(eff.get(role("patient_name"))),
        "hospital_number": _text(eff.get(role("hospital_number"))),
        "match_key": ev.key,
        "status": ev.status,
        "has_errors": ev.has_errors,
        "missing_count": len(ev.missing_lite),
        "followup_applies": bool(ev.tab_applies.get(followup_tab, False)),
        "fu16_closed": is_answered(eff.get(role("followup_16"))),
        "fu52_closed": is_answered(eff.get(role("followup_52"))),
        "followup_ended": is_answered(eff.get(role("followup_ended_reason"))),
        "bone_therapy": ";".join(therapy) or None,
        # "drug" is the definition's tag for a named drug (KPIs 7, 10 and 11 count on it).
        "bone_therapy_drug": any("drug" in definition.tags_of(therapy_key, v) for v in therapy),
        "evaluated_on": today,
    }


class Evaluator:
    """Picks the definition for a record's 1.09 and evaluates it, remembering the day used."""

    def __init__(self, definitions: DefinitionSet, today: Callable[[], date]) -> None:
        self.definitions = definitions
        self._today = today

    def evaluate(
        self,
        answers: Mapping[str, Any],
        hooks: RecordHooks | None,
        record_id: int | None,
        today: date | None = None,
    ) -> tuple[Evaluation, dict[str, Any]]:
        day = today or self._today()
        definition = self.definitions.for_answers(answers)
        ev = evaluate(definition, answers, day, hooks=hooks, record_id=record_id)
        return ev, derive(definition, ev, day)

    def time_sensitive_days(self) -> int:
        """The largest ``days_since`` threshold in any definition: past it, the calendar alone
        no longer changes a record's evaluation."""

        def walk(c: Any) -> Iterable[int]:
            match c:
                case cond.DaysSince(at_least=n):
                    yield n
                case cond.AnyOf(items=items) | cond.AllOf(items=items):
                    for item in items:
                        yield from walk(item)
                case cond.Not(item=item):
                    yield from walk(item)

        found = [0]
        for definition in self.definitions:
            for q in definition.questions.values():
                found.extend(walk(q.lite_when))
                found.extend(walk(q.applies_when))
            for tab in definition.tabs:
                found.extend(walk(tab.applies_when))
        return max(found)
