"""KPIs 1–11 for a period of diagnosis dates (spec section 6), and who each one misses.

Which records count: live records whose 1.09 falls in the period, with no error (drafts count).
A hidden answer counts as absent. A record enters a time-bound KPI only once its window has
closed as of ``today`` (the KPI's ``due_after_days``); before that it is "not yet due": left out
of the denominator, and counted. An empty denominator is "no data" (``percent`` None), never 0 %.
Bands compare the unrounded percentage with the KPI's own ``green_from`` / ``red_below``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flsdesk.store.store import Store

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

    def result(self, number: int) -> KpiResult:
        for r in self.results:
            if r.number == number:
                return r
        raise KeyError(number)


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


def compute(store: Store, period: Period, today: date) -> KpiReport:
    """KPIs 1–11 overall, per month and broken down by age band, gender, care home residence and
    index fracture site, for the records diagnosed in ``period``, as of ``today``."""
    raise NotImplementedError


def missed(store: Store, kpi: int, period: Period, today: date) -> list[Missed]:
    """The records KPI ``kpi`` counts in its denominator but not its numerator (diagnosis date
    order). KPI 1 and 2 have no per-record list: empty. ``KeyError`` for an unknown KPI."""
    raise NotImplementedError


def not_yet_due(store: Store, kpi: int, period: Period, today: date) -> list[NotYetDue]:
    """The records that will enter KPI ``kpi`` once its window closes, soonest first."""
    raise NotImplementedError
