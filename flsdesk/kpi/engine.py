"""KPIs 1–11 for a period of diagnosis dates (spec section 6), and who each one misses.

Which records count: live records whose 1.09 falls in the period, with no error (drafts count).
A hidden answer counts as absent. A record enters a time-bound KPI only once its window has
closed as of ``today`` (the KPI's ``due_after_days``); before that it is "not yet due": left out
of the denominator, and counted. An empty denominator is "no data" (``percent`` None), never 0 %.
Bands compare the unrounded percentage with the KPI's own ``green_from`` / ``red_below``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from flsdesk.answers import date_for_people, parse_iso_date
from flsdesk.dataset import Definition
from flsdesk.kpi.definitions import (
    Clause,
    DateWithin,
    KpiDefinition,
    KpiSet,
    TabApplies,
    clause_questions,
    load_kpis,
)
from flsdesk.kpi.fast import Applicability, Test, compile_condition
from flsdesk.rules import age_on
from flsdesk.store import settings as store_settings
from flsdesk.store.models import Record

if TYPE_CHECKING:
    from flsdesk.store.store import Store

R = Record.__table__.c

GREEN = "green"
AMBER = "amber"
RED = "red"
BAND_WORDS: dict[str | None, str] = {
    GREEN: "green (on target)",
    AMBER: "amber (below target)",
    RED: "red (well below target)",
    None: "no data",
}


@dataclass(frozen=True)
class Period:
    """Diagnosis dates from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("The period ends before it starts.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @classmethod
    def year(cls, year: int) -> Period:
        """The audit year: 1 January – 31 December."""
        return cls(date(year, 1, 1), date(year, 12, 31))


@dataclass(frozen=True)
class KpiResult:
    number: int
    name: str
    numerator: int
    denominator: int  # KPI 1: the lite questions looked at; KPI 2: the pro-rated caseload
    not_yet_due: int
    percent: float | None  # unrounded; None: no data (empty denominator; KPI 1 always)
    band: str | None  # "green" | "amber" | "red" | None (no data)
    band_words: str
    target: float | None
    national: float | None
    note: str = ""
    provisional: bool = False
    # KPI 1: the weak fields (question numbers, form order).
    weak_fields: tuple[str, ...] = ()

    @property
    def no_data(self) -> bool:
        return self.band is None


@dataclass(slots=True)
class _Kept:
    """What a report keeps of one counted record (no answers)."""

    id: int
    nhs_number: str | None
    diagnosed: date
    day: int
    states: tuple[int, ...]  # per KPI of the file, in file order
    definition: Definition


@dataclass(frozen=True)
class KpiReport:
    period: Period
    today: date
    results: list[KpiResult]
    # KPI number -> [(first day of the month, the result for that month's diagnoses)].
    monthly: dict[int, list[tuple[date, KpiResult]]]
    # dimension ("age", "gender", "care home", "site") -> group label -> KPI number -> result.
    breakdowns: dict[str, dict[str, dict[int, KpiResult]]]
    kpi2_reading: str  # "all records" or "non-spine records only"
    caseload_note: str  # what KPI 2 was compared with, or why it could not be
    national_source: str = ""
    records_counted: int = 0
    records_with_errors: int = 0  # left out of every KPI
    kpi_file: str = ""  # which KPI file, and whether bundled or overridden
    # Each counted record's state in every KPI, so that the lists below need no second read.
    _records: tuple[_Kept, ...] = field(default=(), repr=False, compare=False)
    _kpis: KpiSet | None = field(default=None, repr=False, compare=False)

    def result(self, number: int) -> KpiResult:
        for r in self.results:
            if r.number == number:
                return r
        raise KeyError(number)

    def missed(self, kpi: int) -> list[Missed]:
        """The records KPI ``kpi`` misses, as ``missed()`` lists them, from this report's
        reading of the store (instant; as fresh as the report)."""
        if self._kpis is None:
            return []
        k = _share_kpi(self._kpis, kpi)
        if k is None:
            return []
        i = self._kpis.kpis.index(k)
        return [
            _missed_row(k, r.id, r.nhs_number, r.diagnosed, r.day, r.definition)
            for r in self._records
            if r.states[i] == MISS
        ]

    def not_yet_due(self, kpi: int) -> list[NotYetDue]:
        """As ``not_yet_due()``, from this report's reading of the store."""
        if self._kpis is None:
            return []
        k = _share_kpi(self._kpis, kpi)
        if k is None or k.due_after_days is None:
            return []
        i = self._kpis.kpis.index(k)
        out = [
            NotYetDue(r.id, r.nhs_number, r.diagnosed, due_on(k, r.diagnosed))
            for r in self._records
            if r.states[i] == NOT_DUE
        ]
        out.sort(key=lambda r: (r.due_on, r.record_id))
        return out


@dataclass(frozen=True)
class Missed:
    """A record in a KPI's denominator that misses its numerator."""

    record_id: int
    nhs_number: str | None
    diagnosed: date
    # "no FLS assessment recorded within 90 days — fracture 02/10/2025, day 143 today"
    what_is_missing: str
    tab: str  # the form tab to open it on


@dataclass(frozen=True)
class NotYetDue:
    record_id: int
    nhs_number: str | None
    diagnosed: date
    due_on: date  # the first day it counts in the KPI


# ---------------------------------------------------------------------------------------------
# One pass over the records of a period
# ---------------------------------------------------------------------------------------------

# A record's state in one KPI.
OUT = 0  # not in the denominator
NOT_DUE = 1  # would be in it, but its window has not closed yet
MISS = 2
HIT = 3

NOT_RECORDED = "Not recorded"
DIMENSIONS: tuple[str, ...] = ("age", "gender", "care home", "site")

# A compiled KPI test: (effective answers, tab applicability) -> bool.
_Test = Callable[[Mapping[str, Any], Mapping[str, bool]], bool]


def _compile_clause(clause: Clause, definition: Definition, today: date) -> _Test:
    if isinstance(clause, TabApplies):
        tab = clause.tab
        return lambda eff, tabs: tabs.get(tab, False)
    if isinstance(clause, DateWithin):
        q, start_q, days = clause.question, clause.start, clause.days

        def within(eff: Mapping[str, Any], tabs: Mapping[str, bool]) -> bool:
            when = parse_iso_date(eff.get(q))
            start = parse_iso_date(eff.get(start_q))
            return when is not None and start is not None and 0 <= (when - start).days <= days

        return within
    test = compile_condition(clause, definition, today)
    return lambda eff, tabs: test(eff)


def _compile_all(clauses: Sequence[Clause], definition: Definition, today: date) -> _Test:
    tests = [_compile_clause(c, definition, today) for c in clauses]
    if not tests:
        return lambda eff, tabs: True
    if len(tests) == 1:
        return tests[0]
    return lambda eff, tabs: all(t(eff, tabs) for t in tests)


@dataclass(frozen=True)
class _Plan:
    """What to evaluate of the records of one definition on one day: only the questions the
    KPIs read (and what their rules read), compiled."""

    definition: Definition
    applicability: Applicability
    # Per KPI of the scan: (denominator, numerator, due_after_days or -1).
    tests: tuple[tuple[_Test, _Test, int], ...]
    # The lite questions (always, or under a compiled lite_when), form order.
    lite: tuple[tuple[str, Test | None], ...]


def _plan(
    definition: Definition,
    kset: KpiSet,
    kpis: Sequence[KpiDefinition],
    lite: bool,
    today: date,
) -> _Plan:
    needed: set[str] = set()
    for k in kpis:
        needed |= k.questions()
    needed.add(kset.kpi2.spine_question)
    needed.add(kset.breakdowns.care_home_question)
    sites = definition.roles.get("fracture_sites") or []
    if sites:
        needed.add(str(sites[0]))
    lite_qs: list[tuple[str, Test | None]] = []
    if lite:
        for q in definition.questions.values():
            if q.local or not q.is_lite:
                continue
            when = (
                None
                if q.lite or q.lite_when is None
                else compile_condition(q.lite_when, definition, today)
            )
            lite_qs.append((q.key, when))
            needed.add(q.key)
    tests = tuple(
        (
            _compile_all(k.denominator, definition, today),
            _compile_all(k.numerator, definition, today),
            -1 if k.due_after_days is None else k.due_after_days,
        )
        for k in kpis
    )
    return _Plan(definition, Applicability.build(definition, needed, today), tests, tuple(lite_qs))


def _period_rows(store: Store, period: Period) -> list[Any]:
    stmt = (
        select(
            R.id,
            R.nhs_number,
            R.diagnosed,
            R.date_of_birth,
            R.gender,
            R.has_errors,
            R.dataset_id,
            R.answers,
        )
        .where(
            R.deleted_at.is_(None),
            R.diagnosed.is_not(None),
            R.diagnosed >= period.start,
            R.diagnosed <= period.end,
        )
        .order_by(R.diagnosed, R.id)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(stmt))


def _decode(text: Any) -> dict[str, Any]:
    """A row's stored answers (one JSON object); anything unreadable counts as no answers."""
    if isinstance(text, dict):  # a JSON column (PostgreSQL's jsonb) comes decoded
        return text
    try:
        value = json.loads(text) if text is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(slots=True)
class _Seen:
    """One counted record, as the KPIs see it."""

    id: int
    nhs_number: str | None
    diagnosed: date
    date_of_birth: date | None
    gender: str | None
    plan: _Plan
    effective: dict[str, Any]
    applies: set[str]
    states: tuple[int, ...]  # per KPI of the scan
    day: int  # days from 1.09 to today


class _Scan:
    """The counted records of a period, each decoded once; records with errors counted apart."""

    def __init__(
        self,
        store: Store,
        period: Period,
        today: date,
        kset: KpiSet,
        kpis: Sequence[KpiDefinition],
        lite: bool,
    ) -> None:
        self.today = today
        self.kset = kset
        self.kpis = tuple(kpis)
        self.lite = lite
        self.with_errors = 0
        self._plans: dict[str, _Plan] = {}
        self._definitions = store.definitions
        self.rows = _period_rows(store, period)

    def plan(self, dataset_id: str) -> _Plan:
        plan = self._plans.get(dataset_id)
        if plan is None:
            definition = self._definitions.get(dataset_id)
            plan = _plan(definition, self.kset, self.kpis, self.lite, self.today)
            self._plans[dataset_id] = plan
        return plan

    def __iter__(self) -> Iterator[_Seen]:
        today = self.today
        self.with_errors = 0
        for row in self.rows:
            if row.has_errors:
                self.with_errors += 1
                continue
            plan = self.plan(row.dataset_id)
            answers = _decode(row.answers)
            applies, tabs, effective = plan.applicability(answers)
            diagnosed = _as_date(row.diagnosed)
            day = (today - diagnosed).days
            states = tuple(
                OUT
                if not den(effective, tabs)
                else NOT_DUE
                if day <= due
                else HIT
                if num(effective, tabs)
                else MISS
                for den, num, due in plan.tests
            )
            born = row.date_of_birth
            yield _Seen(
                row.id,
                row.nhs_number,
                diagnosed,
                _as_date(born) if born is not None else None,
                row.gender,
                plan,
                effective,
                applies,
                states,
                day,
            )


def due_on(k: KpiDefinition, diagnosed: date) -> date:
    """The first day a record diagnosed on ``diagnosed`` counts in KPI ``k``: the day after its
    window (``due_after_days`` days from 1.09, inclusive) has closed."""
    return diagnosed + timedelta(days=(k.due_after_days or 0) + 1)


def _lite_gaps(seen: _Seen) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The lite questions that apply to the record, and those of them it lacks."""
    applicable: list[str] = []
    lacking: list[str] = []
    eff = seen.effective
    applies = seen.applies
    for key, when in seen.plan.lite:
        if key not in applies or (when is not None and not when(eff)):
            continue
        applicable.append(key)
        if key not in eff:
            lacking.append(key)
    return tuple(applicable), tuple(lacking)


# ---------------------------------------------------------------------------------------------
# Turning counts into results
# ---------------------------------------------------------------------------------------------


def _share_result(k: KpiDefinition, hit: int, miss: int, not_due: int, note: str = "") -> KpiResult:
    den = hit + miss
    percent = 100.0 * hit / den if den else None
    band = k.band.of(percent)
    return KpiResult(
        number=k.number,
        name=k.name,
        numerator=hit,
        denominator=den,
        not_yet_due=not_due,
        percent=percent,
        band=band,
        band_words=BAND_WORDS[band],
        target=k.target,
        national=k.national,
        note=note,
        provisional=k.provisional,
    )


def _completeness_result(
    k: KpiDefinition,
    definition: Definition,
    lacking: Mapping[str, int],
    applicable: Mapping[str, int],
) -> KpiResult:
    order = list(definition.questions)
    looked_at = sorted((q for q, n in applicable.items() if n), key=_order_key(order))
    lacking = {q: lacking.get(q, 0) for q in looked_at}
    weak = tuple(q for q in looked_at if 100.0 * lacking[q] / applicable[q] > k.missing_share_above)
    if not looked_at:
        band: str | None = None
        words = BAND_WORDS[None]
    elif len(weak) < k.good_below:
        band, words = GREEN, f"pass: fewer than {k.good_below} weak fields"
    else:
        band, words = RED, f"fail: {k.good_below} or more weak fields"
    if weak:
        parts = []
        for q in weak:
            label = definition.questions[q].label if q in definition.questions else q
            parts.append(f"{q} {label} ({100.0 * lacking[q] / applicable[q]:.0f} % missing)")
        note = "Weak fields: " + "; ".join(parts)
    else:
        note = "No weak field." if looked_at else ""
    return KpiResult(
        number=k.number,
        name=k.name,
        numerator=len(weak),
        denominator=len(looked_at),
        not_yet_due=0,
        percent=None,
        band=band,
        band_words=words,
        target=None,
        national=k.national,
        note=note,
        provisional=k.provisional,
        weak_fields=weak,
    )


def _order_key(order: list[str]) -> Any:
    index = {q: i for i, q in enumerate(order)}
    return lambda q: (index.get(q, len(index)), q)


def caseload_setting(store: Store) -> float | None:
    """The estimated annual caseload from Settings; None when absent or not a positive number."""
    value = store.get_setting(store_settings.ESTIMATED_ANNUAL_CASELOAD)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _caseload_result(
    k: KpiDefinition, kset: KpiSet, counted: int, caseload: float | None, days: int
) -> KpiResult:
    if caseload is None:
        return KpiResult(
            number=k.number,
            name=k.name,
            numerator=counted,
            denominator=0,
            not_yet_due=0,
            percent=None,
            band=None,
            band_words=BAND_WORDS[None],
            target=k.target,
            national=k.national,
            note="No estimated annual caseload in Settings: KPI 2 is not computed.",
            provisional=k.provisional,
        )
    expected = caseload * days / kset.kpi2.year_days
    percent = 100.0 * counted / expected if expected > 0 else None
    band = k.band.of(percent)
    return KpiResult(
        number=k.number,
        name=k.name,
        numerator=counted,
        denominator=round(expected),
        not_yet_due=0,
        percent=percent,
        band=band,
        band_words=BAND_WORDS[band],
        target=k.target,
        national=k.national,
        note=(
            f"{kset.kpi2.words.capitalize()} against an annual caseload of {caseload:g}, "
            f"pro-rated to {days} days ({expected:.1f})."
        ),
        provisional=k.provisional,
    )


def _months(period: Period) -> list[tuple[date, int]]:
    """The first day of every month the period touches, with the period's days in it."""
    out: list[tuple[date, int]] = []
    first = period.start.replace(day=1)
    while first <= period.end:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        lo = max(first, period.start)
        hi = min(following - timedelta(days=1), period.end)
        out.append((first, (hi - lo).days + 1))
        first = following
    return out


class _Tally:
    """Counts for one group of records (the period, a month, an age band…), in one flat list:
    per KPI [out, not yet due, missed, met], then per lite question [applies, lacking], then
    the records and KPI 2's numerator (see ``_Layout``)."""

    __slots__ = ("counts", "layout")

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.counts = [0] * layout.size

    def add(self, index: Sequence[int], times: int) -> None:
        counts = self.counts
        for j in index:
            counts[j] += times

    def kpi_states(self, i: int) -> tuple[int, int, int, int]:
        c = self.counts
        return c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]

    @property
    def applicable(self) -> dict[str, int]:
        base = self.layout.lite_base
        return {q: self.counts[base + 2 * i] for q, i in self.layout.lite.items()}

    @property
    def lacking(self) -> dict[str, int]:
        base = self.layout.lite_base
        return {q: self.counts[base + 2 * i + 1] for q, i in self.layout.lite.items()}

    @property
    def records(self) -> int:
        return self.counts[self.layout.size - 2]

    @property
    def kpi2(self) -> int:
        return self.counts[self.layout.size - 1]


class _Layout:
    """Where each count sits in a ``_Tally``; turns a record's signature into the positions
    it adds one to."""

    def __init__(self, n_kpis: int, lite: Sequence[str]) -> None:
        self.lite = {q: i for i, q in enumerate(lite)}
        self.lite_base = 4 * n_kpis
        self.size = self.lite_base + 2 * len(lite) + 2

    def index(self, sig: tuple[Any, ...]) -> tuple[int, ...]:
        states, applicable, lacking, kpi2 = sig
        base, lite = self.lite_base, self.lite
        out = [4 * i + s for i, s in enumerate(states)]
        out += [base + 2 * lite[q] for q in applicable]
        out += [base + 2 * lite[q] + 1 for q in lacking]
        out.append(self.size - 2)
        if kpi2:
            out.append(self.size - 1)
        return tuple(out)


def _results(
    kset: KpiSet,
    definition: Definition,
    tally: _Tally,
    caseload: float | None,
    days: int | None,
) -> list[KpiResult]:
    """``days`` None: no KPI 2 (a breakdown group)."""
    out: list[KpiResult] = []
    for i, k in enumerate(kset.kpis):
        if k.formula == "completeness":
            out.append(_completeness_result(k, definition, tally.lacking, tally.applicable))
        elif k.formula == "caseload":
            if days is not None:
                out.append(_caseload_result(k, kset, tally.kpi2, caseload, days))
        else:
            _, not_due, miss, hit = tally.kpi_states(i)
            out.append(_share_result(k, hit, miss, not_due))
    return out


def _group_order(definition: Definition, question: str | None) -> Any:
    labels: list[str] = []
    q = definition.questions.get(question) if question else None
    if q is not None:
        labels = [a.label for a in q.answers]
    index = {label: i for i, label in enumerate(labels)}

    def key(label: str) -> tuple[int, str]:
        if label == NOT_RECORDED:
            return (len(index) + 1, label)
        return (index.get(label, len(index)), label)

    return key


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else NOT_RECORDED


def compute(store: Store, period: Period, today: date, *, kpis: KpiSet | None = None) -> KpiReport:
    """KPIs 1–11 overall, per month and broken down by age band, gender, care home residence and
    index fracture site, for the records diagnosed in ``period``, as of ``today``.

    Breakdowns hold every KPI but 2 (the caseload is not known per group); months hold all.
    """
    kset = kpis or load_kpis(store.paths)
    scan = _Scan(store, period, today, kset, kset.kpis, lite=True)
    spine = kset.kpi2
    bd = kset.breakdowns
    latest = store.definitions.latest
    sites = latest.roles.get("fracture_sites") or []
    site_q = str(sites[0]) if sites else None
    n = len(kset.kpis)
    # Records with the same counts in every KPI and the same groups add up once: the tallies
    # are filled from the distinct (group, counts) pairs, not record by record.
    interned: dict[tuple[Any, ...], int] = {}
    sigs: list[tuple[Any, ...]] = []
    per_group: Counter[tuple[str, Any, int]] = Counter()
    kept: list[_Kept] = []
    for seen in scan:
        applicable, lacking = _lite_gaps(seen)
        eff = seen.effective
        in_kpi2 = spine.reading == "all" or eff.get(spine.spine_question) not in spine.spine_answers
        sig = (seen.states, applicable, lacking, int(in_kpi2))
        sid = interned.get(sig)
        if sid is None:
            sid = interned[sig] = len(sigs)
            sigs.append(sig)
        age = age_on(seen.date_of_birth, seen.diagnosed) if seen.date_of_birth else None
        per_group[("", None, sid)] += 1
        per_group[("month", seen.diagnosed.replace(day=1), sid)] += 1
        per_group[("age", bd.age_band(age) or NOT_RECORDED, sid)] += 1
        per_group[("gender", _text(seen.gender), sid)] += 1
        care = _text(eff.get(bd.care_home_question))
        per_group[("care home", care, sid)] += 1
        site = _text(eff.get(site_q)) if site_q else NOT_RECORDED
        per_group[("site", site, sid)] += 1
        kept.append(
            _Kept(
                seen.id,
                seen.nhs_number,
                seen.diagnosed,
                seen.day,
                seen.states,
                seen.plan.definition,
            )
        )

    lite_keys: list[str] = []
    for definition in store.definitions:
        for key, _ in scan.plan(definition.id).lite:
            if key not in lite_keys:
                lite_keys.append(key)
    layout = _Layout(n, lite_keys)
    indexes = [layout.index(sig) for sig in sigs]
    overall = _Tally(layout)
    months: dict[date, _Tally] = {m: _Tally(layout) for m, _ in _months(period)}
    dims: dict[str, dict[str, _Tally]] = {d: {} for d in DIMENSIONS}
    for (dim, label, sid), times in per_group.items():
        if dim == "":
            tally = overall
        elif dim == "month":
            tally = months[label]
        else:
            group = dims[dim]
            if label not in group:
                group[label] = _Tally(layout)
            tally = group[label]
        tally.add(indexes[sid], times)

    caseload = caseload_setting(store)
    results = _results(kset, latest, overall, caseload, period.days)
    monthly: dict[int, list[tuple[date, KpiResult]]] = {k.number: [] for k in kset.kpis}
    for first, days in _months(period):
        for r in _results(kset, latest, months[first], caseload, days):
            monthly[r.number].append((first, r))
    orders = {
        "age": lambda label: (
            ([*bd.age_band_labels(), NOT_RECORDED]).index(label)
            if label in bd.age_band_labels() or label == NOT_RECORDED
            else 99
        ),
        "gender": _group_order(latest, latest.roles.get("gender")),
        "care home": _group_order(latest, bd.care_home_question),
        "site": _group_order(latest, site_q),
    }
    breakdowns: dict[str, dict[str, dict[int, KpiResult]]] = {}
    for dim in DIMENSIONS:
        breakdowns[dim] = {}
        for label in sorted(dims[dim], key=orders[dim]):
            rs = _results(kset, latest, dims[dim][label], caseload, None)
            breakdowns[dim][label] = {r.number: r for r in rs}
    if caseload is None:
        caseload_note = "No estimated annual caseload in Settings: KPI 2 is not computed."
    else:
        caseload_note = (
            f"KPI 2 counts {spine.words} against the estimated annual caseload of "
            f"{caseload:g} from Settings, pro-rated to the period's {period.days} days."
        )
    return KpiReport(
        period=period,
        today=today,
        results=results,
        monthly=monthly,
        breakdowns=breakdowns,
        kpi2_reading=spine.words,
        caseload_note=caseload_note,
        national_source=(
            f"{kset.national.source}, {kset.national.year}"
            if kset.national.year
            else kset.national.source
        ),
        records_counted=overall.records,
        records_with_errors=scan.with_errors,
        kpi_file=f"{kset.path.name} ({kset.source})",
        _records=tuple(kept),
        _kpis=kset,
    )


def _tab_of(k: KpiDefinition, definition: Definition) -> str:
    """The form tab where what the KPI lacks is typed: the first question its numerator reads."""
    for clause in k.numerator:
        key = clause.question if isinstance(clause, DateWithin) else None
        keys = [key] if key else sorted(clause_questions(clause))
        for q in keys:
            if q in definition.questions:
                return definition.questions[q].tab
    return ""


def _share_kpi(kset: KpiSet, number: int) -> KpiDefinition | None:
    k = kset.kpi(number)
    return k if k.formula == "share" else None


def _missed_row(
    k: KpiDefinition,
    record_id: int,
    nhs_number: str | None,
    diagnosed: date,
    day: int,
    definition: Definition,
) -> Missed:
    what = k.missing or f"not counted in '{k.name}'"
    words = f"{what} — fracture {date_for_people(diagnosed)}, day {day} today"
    return Missed(record_id, nhs_number, diagnosed, words, _tab_of(k, definition))


def missed(
    store: Store, kpi: int, period: Period, today: date, *, kpis: KpiSet | None = None
) -> list[Missed]:
    """The records KPI ``kpi`` counts in its denominator but not its numerator (diagnosis date
    order). KPIs 1 and 2 have no per-record list: empty. ``KeyError`` for an unknown KPI."""
    kset = kpis or load_kpis(store.paths)
    k = _share_kpi(kset, kpi)
    if k is None:
        return []
    return [
        _missed_row(k, s.id, s.nhs_number, s.diagnosed, s.day, s.plan.definition)
        for s in _Scan(store, period, today, kset, [k], lite=False)
        if s.states[0] == MISS
    ]


def not_yet_due(
    store: Store, kpi: int, period: Period, today: date, *, kpis: KpiSet | None = None
) -> list[NotYetDue]:
    """The records that will enter KPI ``kpi`` once its window closes, soonest first."""
    kset = kpis or load_kpis(store.paths)
    k = _share_kpi(kset, kpi)
    if k is None or k.due_after_days is None:
        return []
    out = [
        NotYetDue(s.id, s.nhs_number, s.diagnosed, due_on(k, s.diagnosed))
        for s in _Scan(store, period, today, kset, [k], lite=False)
        if s.states[0] == NOT_DUE
    ]
    out.sort(key=lambda r: (r.due_on, r.record_id))
    return out
