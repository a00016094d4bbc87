"""The follow-up worklist: who is due a follow-up on a given day (spec section 5).

Everything about the windows comes from the definition's ``[followup.windows.*]``: their ids,
labels, the question that closes each and the day counts of its states. Day 0 is the date of
diagnosis and every bound is inclusive::

    upcoming   upcoming_from <= day < due_from
    due        due_from      <= day < overdue_from
    overdue    overdue_from  <= day < missed_from
    missed     missed_from   <= day            (listed only on request)

The work happens in the database, over the store's indexed columns (``diagnosed``,
``followup_applies``, the closed flags, ``followup_ended``, ``deleted_at``), which the store
derives from the rules' *effective* answers at every save: a hidden answer never makes a
follow-up owed or closed. Day arithmetic is in SQL (``julianday`` on SQLite, date subtraction on
PostgreSQL: the three small constructs below compile per engine); the candidates are found through
the ``diagnosed`` index as a date range, so no record is loaded into Python unless it is a row of
the list.

"Days" shown with a state (provisional, like the day counts):

- upcoming: days until the window opens (``due_from - day``; 1 on the day before it opens);
- due: days left in the window, today included (``overdue_from - day``; 1 on its last day);
- overdue and missed: days since the window closed (``day - (overdue_from - 1)``; 1 on the first
  overdue day).

The list is ordered by urgency unless asked otherwise (``urgency_key``): overdue first, the most
days overdue on top; then due, the fewest days left first; then upcoming, the soonest to open
first; missed ones (listed only on request) last.

Each row carries the record's contact details, the local fields named by the optional roles
``contact_phone``, ``contact_phone_2`` and ``gp_practice`` (read from the stored answers: they
have no indexed column, and only the rows of the list are read).

Call attempts are local to this computer (never exported). Ending a follow-up writes the record's
local "follow-up ended" fields through ``Store.save``, so it is audited like any other edit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    Select,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from flsdesk import files, spreadsheet
from flsdesk.answers import date_for_people, nhs_for_people
from flsdesk.dataset import Definition, DefinitionSet, FollowupWindow
from flsdesk.followup_end import ended_text, implied_answers
from flsdesk.rules import Evaluation
from flsdesk.store.models import CallAttempt, Record
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.followups")

R = Record.__table__.c
A = CallAttempt.__table__.c

UPCOMING = "upcoming"
DUE = "due"
OVERDUE = "overdue"
MISSED = "missed"
STATES: tuple[str, ...] = (UPCOMING, DUE, OVERDUE, MISSED)
# What a nurse works from by default; missed follow-ups are listed only on request.
OPEN_STATES: frozenset[str] = frozenset({UPCOMING, DUE, OVERDUE})
# The CLI's --state choices and what each lists.
STATE_CHOICES: dict[str, frozenset[str]] = {
    UPCOMING: frozenset({UPCOMING}),
    DUE: frozenset({DUE}),
    OVERDUE: frozenset({OVERDUE}),
    MISSED: frozenset({MISSED}),
    "open": OPEN_STATES,
    "all": frozenset(STATES),
}

# Call outcomes: local bookkeeping of this program, not part of the dataset.
OUTCOMES: tuple[str, ...] = ("No answer", "Left message", "Call back later", "Reached")

# How the store's indexed columns map to the definition: the closed flags are derived from the
# questions named by these roles (see store/records.py), so a window whose ``closed_by`` is one
# of them can be answered from the index.
_CLOSED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("followup_16", "fu16_closed"),
    ("followup_52", "fu52_closed"),
)


class FollowupConfigError(ValueError):
    """The definition's follow-up windows cannot be answered from the store's columns."""


@dataclass(frozen=True)
class CallAttemptInfo:
    id: int
    record_id: int
    window_id: str
    called_on: date
    outcome: str
    try_again_on: date | None
    who: str
    logged_at: datetime | None = None


@dataclass(frozen=True)
class FollowupRow:
    """One open (or missed) follow-up of one record, as of ``on``."""

    record_id: int
    window_id: str
    label: str
    tab_id: str  # the form tab that holds the follow-up's questions
    state: str
    days: int
    diagnosed: date
    window_opens: date  # first day of the "due" window
    window_closes: date  # last day of the "due" window
    nhs_number: str | None
    name: str | None
    hospital_number: str | None
    site: str | None
    bone_therapy: str | None
    last_attempt: CallAttemptInfo | None
    phone: str | None = None
    phone_2: str | None = None
    gp_practice: str | None = None

    @property
    def phones(self) -> str:
        """Both numbers in one cell: the worklist has room for one phone column."""
        return " / ".join(p for p in (self.phone, self.phone_2) if p)

    @property
    def try_again_on(self) -> date | None:
        return self.last_attempt.try_again_on if self.last_attempt else None

    @property
    def state_text(self) -> str:
        return state_text(self.state, self.days)


@dataclass(frozen=True)
class NextFollowup:
    record_id: int
    window_id: str
    label: str
    window_opens: date
    window_closes: date
    state: str | None  # None while the follow-up is not yet upcoming

    @property
    def text(self) -> str:
        """The patient list's cell: "16-week from 01/02/2025 (due)"."""
        state = f" ({self.state})" if self.state else ""
        return f"{self.label} from {date_for_people(self.window_opens)}{state}"


@dataclass(frozen=True)
class EndedFollowup:
    """A record whose follow-up was ended with a reason (the patient list's column)."""

    record_id: int
    reason: str
    text: str  # "ended: moved away", the reason's words from the definition


# The contact details of a worklist row: (FollowupRow field, the definition's optional role).
CONTACT_ROLES: tuple[tuple[str, str], ...] = (
    ("phone", "contact_phone"),
    ("phone_2", "contact_phone_2"),
    ("gp_practice", "gp_practice"),
)

_URGENCY = {OVERDUE: 0, DUE: 1, UPCOMING: 2, MISSED: 3}


def urgency_key(state: str, days: int) -> tuple[int, int]:
    """Sorts the most urgent first: overdue by days overdue (most first), then due by days left
    (fewest first), then upcoming (soonest first), then missed (most recently missed first)."""
    return _URGENCY[state], -days if state == OVERDUE else days


def state_text(state: str, days: int) -> str:
    """The state with its days, worded for the state: "due, 12 days left" (see module doc)."""
    unit = "day" if days == 1 else "days"
    if state == UPCOMING:
        return f"upcoming, opens in {days} {unit}"
    if state == DUE:
        return f"due, {days} {unit} left"
    return f"{state}, {days} {unit} since the window closed"


# ---------------------------------------------------------------------------------------------
# The queries
# ---------------------------------------------------------------------------------------------


def _closed_column(definition: Definition, window: FollowupWindow) -> ColumnElement[Any]:
    for role, column in _CLOSED_COLUMNS:
        if definition.roles.get(role) == window.closed_by:
            return R[column]
    raise FollowupConfigError(
        f"Follow-up window '{window.id}' of {definition.path.name} is closed by question "
        f"{window.closed_by}, but the store only keeps the closed state of the questions named by "
        f"the roles {', '.join(r for r, _ in _CLOSED_COLUMNS)}. Point closed_by at one of those."
    )


def _window_tab(definition: Definition, window: FollowupWindow) -> str:
    question = definition.questions.get(window.closed_by)
    return question.tab if question is not None else ""


def _dataset_filter(definitions: DefinitionSet, definition: Definition) -> ColumnElement[bool]:
    """The records evaluated under ``definition`` (its windows, its day counts)."""
    ids = [d.id for d in definitions]
    if len(ids) == 1:
        return literal(True)
    if definition is definitions.latest:
        # A record whose definition file has gone is read with the newest, as DefinitionSet.get.
        return or_(R.dataset_id == definition.id, R.dataset_id.not_in(ids))
    return R.dataset_id == definition.id


class _DaysSince(FunctionElement[int]):
    """Whole days from the second argument (a date) to the first (today)."""

    type = Integer()
    inherit_cache = True


@compiles(_DaysSince, "sqlite")
def _days_since_sqlite(element: _DaysSince, compiler: SQLCompiler, **kw: Any) -> str:
    today, day = (compiler.process(a, **kw) for a in element.clauses)
    return f"CAST(julianday({today}) - julianday({day}) AS INTEGER)"


@compiles(_DaysSince, "postgresql")
def _days_since_pg(element: _DaysSince, compiler: SQLCompiler, **kw: Any) -> str:
    today, day = (compiler.process(a, **kw) for a in element.clauses)
    return f"(CAST({today} AS DATE) - CAST({day} AS DATE))"


class _Shift(FunctionElement[Any]):
    """A date moved by a whole number of days: SQLite gives yyyy-mm-dd text (what its Date
    columns hold), PostgreSQL a date; ``_as_date`` reads either."""

    inherit_cache = True


@compiles(_Shift, "sqlite")
def _shift_sqlite(element: _Shift, compiler: SQLCompiler, **kw: Any) -> str:
    day, offset = (compiler.process(a, **kw) for a in element.clauses)
    return f"date({day}, {offset})"


@compiles(_Shift, "postgresql")
def _shift_pg(element: _Shift, compiler: SQLCompiler, **kw: Any) -> str:
    day, offset = element.clauses
    days = int(offset.value[:-5])  # "+N days", built below
    return f"(CAST({compiler.process(day, **kw)} AS DATE) + {days})"


class _AnswerText(FunctionElement[Any]):
    """One answer of a record's stored answers document, by question key."""

    inherit_cache = True


@compiles(_AnswerText, "sqlite")
def _answer_sqlite(element: _AnswerText, compiler: SQLCompiler, **kw: Any) -> str:
    answers, path = (compiler.process(a, **kw) for a in element.clauses)
    return f"json_extract({answers}, {path})"


@compiles(_AnswerText, "postgresql")
def _answer_pg(element: _AnswerText, compiler: SQLCompiler, **kw: Any) -> str:
    answers, path = element.clauses
    key = path.value[3:-1]  # '$."key"', built below
    document = compiler.process(answers, **kw)
    return f"(CAST({document} AS JSON) ->> {compiler.process(literal(key), **kw)})"


def _days(today: Any, day: Any) -> ColumnElement[int]:
    return _DaysSince(today, day)


def _shift(day: Any, days: int) -> ColumnElement[Any]:
    """The date ``days`` days after ``day``."""
    return _Shift(day, literal(f"{days:+d} days"))


def _owed(definition: Definition, window: FollowupWindow) -> list[ColumnElement[bool]]:
    """A live record whose follow-up tab applies and whose follow-up is not closed or ended."""
    return [
        R.deleted_at.is_(None),
        R.diagnosed.is_not(None),
        R.followup_applies.is_(True),
        R.followup_ended.is_(False),
        _closed_column(definition, window).is_(False),
    ]


def _state_ranges(window: FollowupWindow) -> dict[str, tuple[int, int | None]]:
    """Each state's first and last day (None: no end)."""
    return {
        UPCOMING: (window.upcoming_from, window.due_from - 1),
        DUE: (window.due_from, window.overdue_from - 1),
        OVERDUE: (window.overdue_from, window.missed_from - 1),
        MISSED: (window.missed_from, None),
    }


def _window_select(
    definitions: DefinitionSet,
    definition: Definition,
    window: FollowupWindow,
    on: date,
    states: Collection[str],
    with_details: bool,
) -> Select[Any] | None:
    ranges = [r for s, r in _state_ranges(window).items() if s in states]
    if not ranges:
        return None
    first = min(lo for lo, _ in ranges)
    ends = [hi for _, hi in ranges]
    last = None if None in ends else max(hi for hi in ends if hi is not None)
    today = literal(on.isoformat())
    days = _days(today, R.diagnosed)
    state = case(
        (days < window.due_from, literal(UPCOMING)),
        (days < window.overdue_from, literal(DUE)),
        (days < window.missed_from, literal(OVERDUE)),
        else_=literal(MISSED),
    )
    shown_days = case(
        (days < window.due_from, window.due_from - days),
        (days < window.overdue_from, window.overdue_from - days),
        else_=days - (window.overdue_from - 1),
    )
    # The range on ``diagnosed`` (not on the day count) is what lets SQLite use its index.
    where = [
        *_owed(definition, window),
        _dataset_filter(definitions, definition),
        R.diagnosed <= _shift(today, -first),
    ]
    if last is not None:
        where.append(R.diagnosed >= _shift(today, -last))
    columns: list[Any] = [
        R.id.label("record_id"),
        literal(window.id).label("window_id"),
        state.label("state"),
    ]
    if with_details:
        # The last attempt of this follow-up: latest call first, then the latest logged.
        last_attempt = (
            select(A.id)
            .where(A.record_id == R.id, A.window_id == window.id)
            .order_by(A.called_on.desc(), A.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        columns += [
            literal(definition.id).label("dataset_id"),
            shown_days.label("days"),
            R.diagnosed.label("diagnosed"),
            _shift(R.diagnosed, window.due_from).label("window_opens"),
            _shift(R.diagnosed, window.overdue_from - 1).label("window_closes"),
            R.nhs_number.label("nhs_number"),
            R.name.label("name"),
            R.hospital_number.label("hospital_number"),
            R.site.label("site"),
            R.bone_therapy.label("bone_therapy"),
            last_attempt.label("attempt_id"),
        ]
        for field, role in CONTACT_ROLES:
            key = definition.roles.get(role)
            # Local fields are JSON keys of letters, digits and _ (checked on load).
            value = _AnswerText(R.answers, literal(f'$."{key}"')) if key else literal(None)
            columns.append(value.label(field))
    return select(*columns).where(*where)


def _union(
    definitions: DefinitionSet, on: date, states: Collection[str], with_details: bool
) -> Any | None:
    parts = [
        part
        for definition in definitions
        for window in definition.followup_windows
        if (part := _window_select(definitions, definition, window, on, states, with_details))
        is not None
    ]
    if not parts:
        return None
    return union_all(*parts).subquery("fu")


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _window_of(definitions: DefinitionSet, dataset_id: str, window_id: str) -> FollowupWindow:
    for window in definitions.get(dataset_id).followup_windows:
        if window.id == window_id:
            return window
    raise KeyError(window_id)


def worklist(
    engine: Engine,
    definitions: DefinitionSet,
    on: date,
    states: Collection[str] = OPEN_STATES,
    sort: str = "urgency",
) -> list[FollowupRow]:
    """Every follow-up in one of ``states`` on day ``on``.

    ``sort``: "urgency" (the default, see ``urgency_key``), "window" (the earliest window
    first) or "try_again_on" (the soonest "try again on" first; follow-ups never tried last).
    """
    unknown = set(states) - set(STATES)
    if unknown:
        raise ValueError(f"unknown follow-up state(s): {', '.join(sorted(unknown))}")
    fu = _union(definitions, on, states, with_details=True)
    if fu is None:
        return []
    ca = CallAttempt.__table__.alias("ca")
    order: list[Any] = []
    if sort == "try_again_on":
        order += [ca.c.try_again_on.is_(None), ca.c.try_again_on]
    elif sort == "urgency":
        # urgency_key, in SQL.
        order += [
            case(*((fu.c.state == s, rank) for s, rank in _URGENCY.items())),
            case((fu.c.state == OVERDUE, -fu.c.days), else_=fu.c.days),
        ]
    elif sort != "window":
        raise ValueError(f"unknown sort '{sort}'")
    order += [fu.c.window_opens, fu.c.record_id, fu.c.window_id]
    stmt = (
        select(fu, ca.c.called_on, ca.c.outcome, ca.c.try_again_on, ca.c.created_by)
        .select_from(fu.outerjoin(ca, ca.c.id == fu.c.attempt_id))
        .where(fu.c.state.in_(sorted(states)))
        .order_by(*order)
    )
    with engine.connect() as conn:
        # Typed loosely: the select names the union as one item, yet its row is flat.
        found: Sequence[Sequence[Any]] = conn.execute(stmt).all()
    # Window label and tab per (definition, window), looked up once rather than per row.
    meta = {
        (d.id, w.id): (w.label, _window_tab(d, w)) for d in definitions for w in d.followup_windows
    }
    rows: list[FollowupRow] = []
    for (
        record_id,
        window_id,
        state,
        dataset_id,
        days,
        diagnosed,
        opens,
        closes,
        nhs,
        name,
        hospital,
        site,
        therapy,
        attempt_id,
        phone,
        phone_2,
        gp,
        called_on,
        outcome,
        retry,
        who,
    ) in found:
        label, tab_id = meta[(dataset_id, window_id)]
        attempt = None
        if attempt_id is not None:
            attempt = CallAttemptInfo(
                attempt_id, record_id, window_id, called_on, outcome, retry, who
            )
        rows.append(
            FollowupRow(
                record_id,
                window_id,
                label,
                tab_id,
                state,
                int(days),
                _as_date(diagnosed),  # type: ignore[arg-type]
                _as_date(opens),  # type: ignore[arg-type]
                _as_date(closes),  # type: ignore[arg-type]
                nhs,
                name,
                hospital,
                site,
                therapy,
                attempt,
                _contact(phone),
                _contact(phone_2),
                _contact(gp),
            )
        )
    return rows


def _contact(value: Any) -> str | None:
    # A hand-edited or imported answer could be a number; the list shows text.
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def counts(engine: Engine, definitions: DefinitionSet, on: date) -> dict[str, int]:
    """How many follow-ups are in each state on ``on`` (every state, zero included), plus
    "open" (upcoming + due + overdue)."""
    result = dict.fromkeys(STATES, 0)
    fu = _union(definitions, on, STATES, with_details=False)
    if fu is not None:
        stmt = select(fu.c.state, func.count()).group_by(fu.c.state)
        with engine.connect() as conn:
            for state, n in conn.execute(stmt):
                result[state] = int(n)
    result["open"] = sum(result[s] for s in OPEN_STATES)
    return result


def next_followups(
    engine: Engine, definitions: DefinitionSet, record_ids: Iterable[int], on: date
) -> dict[int, NextFollowup]:
    """For each record that still owes one, its next follow-up (the patient list's column).

    The next follow-up is the earliest window that is neither closed nor missed; one that is not
    yet upcoming counts too (``state`` None). Records owing nothing are left out.
    """
    ids = sorted(set(record_ids))
    found: dict[int, NextFollowup] = {}
    # One query per 500 ids keeps under SQLite's limit on bound values for any page size.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        parts = []
        for definition in definitions:
            for window in definition.followup_windows:
                today = literal(on.isoformat())
                days = _days(today, R.diagnosed)
                state = case(
                    (days < window.upcoming_from, literal(None)),
                    (days < window.due_from, literal(UPCOMING)),
                    (days < window.overdue_from, literal(DUE)),
                    else_=literal(OVERDUE),
                )
                parts.append(
                    select(
                        R.id.label("record_id"),
                        literal(definition.id).label("dataset_id"),
                        literal(window.id).label("window_id"),
                        state.label("state"),
                        _shift(R.diagnosed, window.due_from).label("window_opens"),
                        _shift(R.diagnosed, window.overdue_from - 1).label("window_closes"),
                    ).where(
                        R.id.in_(chunk),
                        *_owed(definition, window),
                        _dataset_filter(definitions, definition),
                        R.diagnosed > _shift(today, -window.missed_from),
                    )
                )
        if not parts:
            return {}
        fu = union_all(*parts).subquery("fu")
        stmt = select(fu).order_by(fu.c.record_id, fu.c.window_opens)
        with engine.connect() as conn:
            for r in conn.execute(stmt):
                if r.record_id in found:
                    continue  # an earlier window of the same record came first
                window = _window_of(definitions, r.dataset_id, r.window_id)
                found[r.record_id] = NextFollowup(
                    record_id=r.record_id,
                    window_id=r.window_id,
                    label=window.label,
                    window_opens=_as_date(r.window_opens),  # type: ignore[arg-type]
                    window_closes=_as_date(r.window_closes),  # type: ignore[arg-type]
                    state=r.state,
                )
    return found


def ended_followups(
    engine: Engine, definitions: DefinitionSet, record_ids: Iterable[int]
) -> dict[int, EndedFollowup]:
    """For each live record whose (applicable) follow-up was ended, the reason in words."""
    ids = sorted(set(record_ids))
    found: dict[int, EndedFollowup] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = select(R.id, R.dataset_id, R.answers).where(
            R.id.in_(chunk),
            R.deleted_at.is_(None),
            R.followup_applies.is_(True),
            R.followup_ended.is_(True),
        )
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for record_id, dataset_id, text in rows:
            definition = definitions.get(dataset_id)
            answers = json.loads(text)
            if not isinstance(answers, dict):
                continue
            reason = answers.get(definition.role("followup_ended_reason"))
            if isinstance(reason, str):
                found[record_id] = EndedFollowup(record_id, reason, ended_text(definition, reason))
    return found


def list_followups(
    engine: Engine, definitions: DefinitionSet, record_ids: Iterable[int], on: date
) -> dict[int, NextFollowup | EndedFollowup]:
    """The patient list's "Next follow-up" column: the next one owed, or why it ended."""
    ids = list(record_ids)
    found: dict[int, NextFollowup | EndedFollowup] = dict(ended_followups(engine, definitions, ids))
    found.update(next_followups(engine, definitions, ids, on))
    return found


# ---------------------------------------------------------------------------------------------
# Call attempts and ending a follow-up
# ---------------------------------------------------------------------------------------------


def _live_definition(store: Store, record_id: int) -> Definition:
    record = store.load(record_id)  # RecordNotFound when there is none
    if record.deleted:
        raise ValueError(f"Record {record_id} is deleted.")
    return store.definitions.get(record.dataset_id)


def log_call_attempt(
    store: Store,
    record_id: int,
    window_id: str,
    called_on: date,
    outcome: str,
    try_again_on: date | None = None,
) -> int:
    """Record one call attempt for a follow-up of a record; returns its id. Local only."""
    if outcome not in OUTCOMES:
        choices = ", ".join(OUTCOMES)
        raise ValueError(f"'{outcome}' is not a call outcome; choose one of: {choices}.")
    if called_on > store.today():
        raise ValueError("The date of the call is in the future.")
    if try_again_on is not None and try_again_on < called_on:
        raise ValueError("'Try again on' is before the date of the call.")
    definition = _live_definition(store, record_id)
    if window_id not in {w.id for w in definition.followup_windows}:
        raise ValueError(f"'{window_id}' is not a follow-up of this record's dataset.")
    # The store's writer lock, as every write: on a team database the calls of two PCs then
    # commit in id order, which the others' refresh (Store.change_token) relies on.
    with store.write_transaction() as conn:
        key = conn.execute(
            insert(CallAttempt).values(
                record_id=record_id,
                window_id=window_id,
                called_on=called_on,
                outcome=outcome,
                try_again_on=try_again_on,
                created_at=store.now(),
                created_by=store.user,
            )
        ).inserted_primary_key
    # A single-row INSERT always reports its key; None is only for executemany.
    assert key is not None
    attempt_id = int(key[0])
    log.info("call attempt %d logged for record %d, follow-up %s", attempt_id, record_id, window_id)
    return attempt_id


def call_attempts(engine: Engine, record_id: int) -> list[CallAttemptInfo]:
    """Every call attempt of a record, the latest first."""
    stmt = (
        select(A.id, A.record_id, A.window_id, A.called_on, A.outcome, A.try_again_on)
        .add_columns(A.created_by, A.created_at)
        .where(A.record_id == record_id)
        .order_by(A.called_on.desc(), A.id.desc())
    )
    with engine.connect() as conn:
        return [
            CallAttemptInfo(
                r.id,
                r.record_id,
                r.window_id,
                r.called_on,
                r.outcome,
                r.try_again_on,
                r.created_by,
                r.created_at,
            )
            for r in conn.execute(stmt)
        ]


def end_reasons(definition: Definition) -> list[str]:
    """The answers of the local "follow-up ended" field (died, moved away…), from the definition."""
    return [a.label for a in definition.questions[definition.role("followup_ended_reason")].answers]


def end_followup(store: Store, record_id: int, reason: str, on: date | None = None) -> Evaluation:
    """Close every follow-up of a record with a reason, through ``Store.save`` (audited)."""
    definition = _live_definition(store, record_id)
    if reason not in end_reasons(definition):
        raise ValueError(
            f"'{reason}' is not a reason to end follow-up; choose one of: "
            f"{', '.join(end_reasons(definition))}."
        )
    loaded = store.load(record_id)
    answers = dict(loaded.answers)
    answers[definition.role("followup_ended_reason")] = reason
    answers[definition.role("followup_ended_date")] = (on or store.today()).isoformat()
    # What the reason implies (e.g. 7.01 "No": no 52-week follow-up will happen) is data.
    answers.update(
        implied_answers(store.definitions.for_answers(answers), answers, reason, store.today())
    )
    # Based on the version just read: another window's edit in between is merged, not lost.
    ev = store.save(
        record_id,
        answers,
        reason="Follow-up ended",
        base_version=loaded.version,
        base_answers=loaded.answers,
    )
    log.info("follow-up ended for record %d", record_id)
    return ev


# ---------------------------------------------------------------------------------------------
# The call sheet (CSV and print): only what a nurse needs to make the calls
# ---------------------------------------------------------------------------------------------

CALL_SHEET_COLUMNS: tuple[str, ...] = (
    "NHS number",
    "Name",
    "Phone",
    "Second phone",
    "GP practice",
    "Hospital number",
    "Fracture date",
    "Bone therapy recommended",
    "Follow-up",
    "State",
    "Window",
    "Last call",
    "Try again on",
)


def _dmy(value: date | None) -> str:
    return date_for_people(value)


def attempt_text(attempt: CallAttemptInfo | None) -> str:
    if attempt is None:
        return ""
    return f"{_dmy(attempt.called_on)} {attempt.outcome}"


def call_sheet_row(row: FollowupRow) -> list[str]:
    return [
        nhs_for_people(row.nhs_number),
        row.name or "",
        row.phone or "",
        row.phone_2 or "",
        row.gp_practice or "",
        row.hospital_number or "",
        _dmy(row.diagnosed),
        (row.bone_therapy or "").replace(";", ", "),
        row.label,
        row.state_text,
        f"{_dmy(row.window_opens)}–{_dmy(row.window_closes)}",
        attempt_text(row.last_attempt),
        _dmy(row.try_again_on),
    ]


def call_sheet_csv(rows: Sequence[FollowupRow]) -> str:
    # A name or hospital number starting with = + - @ would run as a formula in a spreadsheet.
    return spreadsheet.csv_text([CALL_SHEET_COLUMNS, *(call_sheet_row(row) for row in rows)])


def write_call_sheet_csv(path: Path | str, rows: Sequence[FollowupRow]) -> Path:
    # UTF-8 with a BOM: a spreadsheet then reads accented names right.
    written = Path(path).expanduser()
    files.write_text(written, call_sheet_csv(rows), encoding="utf-8-sig")
    log.info("follow-up call sheet written: %d row(s)", len(rows))
    return written


def labels(definitions: DefinitionSet) -> Mapping[str, str]:
    """Window id -> label over every definition (the newest wins on a clash)."""
    found: dict[str, str] = {}
    for definition in definitions:
        for window in definition.followup_windows:
            found[window.id] = window.label
    return found


__all__ = [
    "CALL_SHEET_COLUMNS",
    "CONTACT_ROLES",
    "DUE",
    "MISSED",
    "OPEN_STATES",
    "OUTCOMES",
    "OVERDUE",
    "STATES",
    "STATE_CHOICES",
    "UPCOMING",
    "CallAttemptInfo",
    "EndedFollowup",
    "FollowupConfigError",
    "FollowupRow",
    "NextFollowup",
    "call_attempts",
    "call_sheet_csv",
    "call_sheet_row",
    "counts",
    "end_followup",
    "end_reasons",
    "ended_followups",
    "labels",
    "list_followups",
    "log_call_attempt",
    "next_followups",
    "state_text",
    "urgency_key",
    "worklist",
    "write_call_sheet_csv",
]
