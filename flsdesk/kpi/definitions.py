"""The KPI definition file (``resources/kpi/flsdb-kpis.toml``, overridable like the dataset).

The formulas are code (``flsdesk.kpi.engine``); every question number, answer set, day limit,
band, target and national comparator is read from here, each marked sourced or provisional as
the spec marks it. Reading never stops at the first problem: ``DataFileError`` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flsdesk import conditions as cond
from flsdesk.datafiles import DataFileError, Problems, find, read_toml
from flsdesk.paths import AppPaths

KIND = "kpi"
FORMULAS: tuple[str, ...] = ("completeness", "caseload", "share")
KPI2_READINGS: tuple[str, ...] = ("all", "non_spine")


@dataclass(frozen=True)
class TabApplies:
    """A clause: the form tab ``tab`` applies to the record."""

    tab: str


@dataclass(frozen=True)
class DateWithin:
    """A clause: both dates answered and ``0 <= date - start <= days``."""

    question: str
    start: str
    days: int


Clause = cond.Condition | TabApplies | DateWithin


@dataclass(frozen=True)
class Band:
    green_from: float
    red_below: float

    def of(self, percent: float | None) -> str | None:
        """ "green", "amber" or "red" for the unrounded percentage; None for no data."""
        if percent is None:
            return None
        if percent >= self.green_from:
            return "green"
        if percent < self.red_below:
            return "red"
        return "amber"


@dataclass(frozen=True)
class KpiDefinition:
    number: int
    name: str
    formula: str  # one of FORMULAS
    band: Band
    sourced: bool
    target: float | None = None
    national: float | None = None
    denominator: tuple[Clause, ...] = ()  # empty: every record counted
    numerator: tuple[Clause, ...] = ()
    due_after_days: int | None = None  # None: every record is due at once
    missing: str = ""  # what a record missing the numerator lacks, in words
    words: str = ""
    # KPI 1 only.
    missing_share_above: float = 20.0
    good_below: int = 5

    @property
    def provisional(self) -> bool:
        return not self.sourced

    def questions(self) -> set[str]:
        """Every question the KPI's tests read."""
        out: set[str] = set()
        for clause in (*self.denominator, *self.numerator):
            out |= clause_questions(clause)
        return out


@dataclass(frozen=True)
class National:
    source: str
    year: int | None
    sourced: bool


@dataclass(frozen=True)
class Kpi2Setting:
    reading: str  # "all" or "non_spine"
    spine_question: str
    spine_answers: tuple[str, ...]
    year_days: int

    @property
    def words(self) -> str:
        return "all records" if self.reading == "all" else "non-spine records only"


@dataclass(frozen=True)
class AnnualCycle:
    deadline_month: int
    deadline_day: int
    deadline_years_after: int
    provisional_deadline_day: bool
    countdown_from_month: int
    countdown_from_day: int


@dataclass(frozen=True)
class Breakdowns:
    age_bands: tuple[int, ...]  # lower bounds, ascending
    care_home_question: str
    sourced: bool

    def age_band(self, age: int | None) -> str | None:
        """ "50–59" … "90+"; None below the first bound or when unknown."""
        if age is None or not self.age_bands or age < self.age_bands[0]:
            return None
        bands = self.age_bands
        for i, low in enumerate(bands):
            if i + 1 == len(bands) or age < bands[i + 1]:
                return f"{low}+" if i + 1 == len(bands) else f"{low}–{bands[i + 1] - 1}"
        return None  # unreachable

    def age_band_labels(self) -> list[str]:
        return [self.age_band(low) or "" for low in self.age_bands]


@dataclass(frozen=True)
class KpiSet:
    id: str
    name: str
    version: str
    path: Path
    source: str  # "bundled" or "override"
    kpis: tuple[KpiDefinition, ...]
    national: National
    kpi2: Kpi2Setting
    annual: AnnualCycle
    breakdowns: Breakdowns
    bands_sourced: bool = True
    by_number: Mapping[int, KpiDefinition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_number", {k.number: k for k in self.kpis})

    def kpi(self, number: int) -> KpiDefinition:
        try:
            return self.by_number[number]
        except KeyError:
            known = ", ".join(str(n) for n in sorted(self.by_number))
            raise KeyError(f"There is no KPI {number}; the KPIs are {known}.") from None


def clause_questions(clause: Clause) -> set[str]:
    if isinstance(clause, TabApplies):
        return set()
    if isinstance(clause, DateWithin):
        return {clause.question, clause.start}
    return set(cond.referenced_questions(clause))


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------

_TOP = {
    "kind",
    "id",
    "name",
    "version",
    "bands",
    "national",
    "kpi2",
    "annual",
    "breakdowns",
    "kpis",
}
_KPI_KEYS = {
    "number",
    "name",
    "formula",
    "sourced",
    "green_from",
    "red_below",
    "target",
    "national",
    "denominator",
    "numerator",
    "due_after_days",
    "missing",
    "words",
    "missing_share_above",
    "good_below",
}


def _flag(p: Problems, table: Mapping[str, Any], where: str, key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        p.add(where, f"'{key}' must be true or false")
        return False
    return value


def _whole(p: Problems, table: Mapping[str, Any], where: str, key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        p.add(where, f"'{key}' must be a whole number, at least 0")
        return default
    return value


def _optional_number(p: Problems, table: Mapping[str, Any], where: str, key: str) -> float | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        p.add(where, f"'{key}' must be a percentage from 0 to 100")
        return None
    return float(value)


def _clause(p: Problems, raw: Any, where: str) -> Clause | None:
    if isinstance(raw, Mapping) and "tab" in raw:
        if set(raw) != {"tab"} or not isinstance(raw["tab"], str):
            p.add(where, 'a tab clause is {tab = "<tab id>"} and nothing else')
            return None
        return TabApplies(raw["tab"])
    if isinstance(raw, Mapping) and "date" in raw:
        if set(raw) != {"date", "from", "within_days"}:
            p.add(where, 'a date clause is {date = "Q", from = "Q", within_days = N}')
            return None
        days = raw["within_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            p.add(where, "'within_days' must be a whole number, at least 0")
            return None
        if not isinstance(raw["date"], str) or not isinstance(raw["from"], str):
            p.add(where, "'date' and 'from' must name questions")
            return None
        return DateWithin(raw["date"], raw["from"], days)
    try:
        return cond.parse(raw)
    except cond.ConditionError as exc:
        p.add(where, str(exc))
        return None


def _clauses(p: Problems, table: Mapping[str, Any], where: str, key: str) -> tuple[Clause, ...]:
    raw = table.get(key, [])
    if not isinstance(raw, list):
        p.add(where, f"'{key}' must be a list of clauses")
        return ()
    out = [_clause(p, item, f"{where} {key}[{i + 1}]") for i, item in enumerate(raw)]
    return tuple(c for c in out if c is not None)


def parse_kpis(data: Mapping[str, Any], path: Path, source: str = "bundled") -> KpiSet:
    """Check and read a KPI file's contents; ``DataFileError`` lists every problem."""
    p = Problems()
    p.header(data, KIND, _TOP)
    bands_t = p.table(data, "bands")
    default_band = Band(
        p.number(bands_t, "[bands]", "green_from", 80.0),
        p.number(bands_t, "[bands]", "red_below", 50.0),
    )
    nat_t = p.table(data, "national")
    year = nat_t.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        p.add("[national]", "'year' must be a year")
        year = None
    national = National(
        p.text(nat_t, "[national]", "source", ""), year, _flag(p, nat_t, "[national]", "sourced")
    )
    k2 = p.table(data, "kpi2")
    kpi2 = Kpi2Setting(
        p.choice(k2, "[kpi2]", "reading", "all", KPI2_READINGS),
        p.text(k2, "[kpi2]", "spine_question", "1.11"),
        p.words(k2, "[kpi2]", "spine_answers"),
        _whole(p, k2, "[kpi2]", "year_days", 365) or 365,
    )
    an = p.table(data, "annual")
    annual = AnnualCycle(
        _whole(p, an, "[annual]", "deadline_month", 5),
        _whole(p, an, "[annual]", "deadline_day", 31),
        _whole(p, an, "[annual]", "deadline_years_after", 1),
        _flag(p, an, "[annual]", "provisional_deadline_day"),
        _whole(p, an, "[annual]", "countdown_from_month", 3),
        _whole(p, an, "[annual]", "countdown_from_day", 1),
    )
    for where, month, day in (
        ("deadline", annual.deadline_month, annual.deadline_day),
        ("countdown_from", annual.countdown_from_month, annual.countdown_from_day),
    ):
        if not 1 <= month <= 12 or not 1 <= day <= 28 + (3 if month != 2 else 0):
            p.add("[annual]", f"{where}_month/{where}_day is not a day of the year")
    bd = p.table(data, "breakdowns")
    ages_raw = bd.get("age_bands", [50, 60, 70, 80, 90])
    if (
        not isinstance(ages_raw, list)
        or not ages_raw
        or not all(isinstance(a, int) and not isinstance(a, bool) for a in ages_raw)
        or sorted(set(ages_raw)) != ages_raw
    ):
        p.add("[breakdowns]", "'age_bands' must be ascending whole numbers (lower bounds)")
        ages_raw = [50, 60, 70, 80, 90]
    breakdowns = Breakdowns(
        tuple(ages_raw),
        p.text(bd, "[breakdowns]", "care_home_question", "1.05"),
        _flag(p, bd, "[breakdowns]", "sourced"),
    )

    kpis: list[KpiDefinition] = []
    raw_kpis = data.get("kpis", [])
    if not isinstance(raw_kpis, list) or not raw_kpis:
        p.add("", "there must be at least one [[kpis]] table")
        raw_kpis = []
    seen: set[int] = set()
    for i, raw in enumerate(raw_kpis):
        where = f"[[kpis]] #{i + 1}"
        if not isinstance(raw, Mapping):
            p.add(where, "must be a table")
            continue
        p.unknown(where, raw, _KPI_KEYS)
        number = raw.get("number")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            p.add(where, "'number' must be a whole number, at least 1")
            continue
        where = f"KPI {number}"
        if number in seen:
            p.add(where, "appears twice")
        seen.add(number)
        name = p.text(raw, where, "name", "")
        if not name.strip():
            p.add(where, "'name' is missing")
        formula = p.choice(raw, where, "formula", "share", FORMULAS)
        band = Band(
            p.number(raw, where, "green_from", default_band.green_from),
            p.number(raw, where, "red_below", default_band.red_below),
        )
        if band.red_below > band.green_from:
            p.add(where, "'red_below' is above 'green_from'")
        due = raw.get("due_after_days")
        if due is not None and (isinstance(due, bool) or not isinstance(due, int) or due < 0):
            p.add(where, "'due_after_days' must be a whole number, at least 0")
            due = None
        numerator = _clauses(p, raw, where, "numerator")
        if formula == "share" and not numerator:
            p.add(where, "a 'share' KPI needs a 'numerator'")
        kpis.append(
            KpiDefinition(
                number=number,
                name=name,
                formula=formula,
                band=band,
                sourced=_flag(p, raw, where, "sourced"),
                target=_optional_number(p, raw, where, "target"),
                national=_optional_number(p, raw, where, "national"),
                denominator=_clauses(p, raw, where, "denominator"),
                numerator=numerator,
                due_after_days=due,
                missing=p.text(raw, where, "missing", ""),
                words=p.text(raw, where, "words", ""),
                missing_share_above=p.number(raw, where, "missing_share_above", 20.0),
                good_below=_whole(p, raw, where, "good_below", 5),
            )
        )
    if p.items:
        raise DataFileError(path, p.items)
    return KpiSet(
        id=str(data["id"]),
        name=str(data["name"]),
        version=str(data.get("version", "")),
        path=path,
        source=source,
        kpis=tuple(sorted(kpis, key=lambda k: k.number)),
        national=national,
        kpi2=kpi2,
        annual=annual,
        breakdowns=breakdowns,
        bands_sourced=_flag(p, bands_t, "[bands]", "sourced"),
    )


def load_kpis(paths: AppPaths | None = None) -> KpiSet:
    """The KPI file in use (an override of the same name wins); the first by name if several."""
    files = find(KIND, paths)
    if not files:
        raise DataFileError("flsdb-kpis.toml", ["no KPI definition file was found"])
    chosen = files[0]
    return parse_kpis(read_toml(chosen.path), chosen.path, chosen.source)


def check_kpi_file(data: dict[str, Any], path: Path) -> str:
    """``flsdesk definitions --check``: raises DataFileError, or returns a one-line summary."""
    k = parse_kpis(data, path)
    provisional = sum(1 for d in k.kpis if d.provisional)
    return (
        f"KPI set {k.id} ({k.version}): {len(k.kpis)} KPIs, {provisional} provisional; "
        f"KPI 2 counts {k.kpi2.words}; national figures: {k.national.source or 'none'}"
    )


def questions_named(kpis: Sequence[KpiDefinition]) -> set[str]:
    out: set[str] = set()
    for k in kpis:
        out |= k.questions()
    return out
