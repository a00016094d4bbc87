"""The audit's annual cycle (FAQ 29): 1 January – 31 December by diagnosis date, submitted by the
following May. The deadline's date rule lives in the KPI data file (``[annual]``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flsdesk.kpi.definitions import KpiSet

if TYPE_CHECKING:
    from flsdesk.store.store import Store


@dataclass(frozen=True)
class ReadinessItem:
    record_id: int
    nhs_number: str | None
    diagnosed: date | None
    detail: str  # why it is on the list, in words
    tab: str = ""


@dataclass(frozen=True)
class Readiness:
    year: int
    deadline: date
    days_left: int | None
    drafts: list[ReadinessItem]
    needs_correction: list[ReadinessItem]
    followups_due: list[ReadinessItem]  # unanswered follow-ups whose window has opened
    not_exported: list[ReadinessItem]  # never sent, or changed since last sent

    @property
    def ready(self) -> bool:
        return not (self.drafts or self.needs_correction or self.followups_due or self.not_exported)


def deadline(year: int, kpis: KpiSet | None = None) -> date:
    """The day by which ``year``'s records must be in for the annual report (31 May of the next
    year, by the data file)."""
    raise NotImplementedError


def default_report_year(today: date, kpis: KpiSet | None = None) -> int:
    """The year whose deadline is next: last year until its deadline has passed, then this
    year."""
    raise NotImplementedError


def days_left(today: date, year: int, kpis: KpiSet | None = None) -> int | None:
    """Days from ``today`` to ``year``'s deadline (0 on the day), shown from 1 March of the
    deadline's year; None before that (and after the deadline)."""
    raise NotImplementedError


def readiness(store: Store, year: int, today: date) -> Readiness:
    """The lists a service clears before the deadline for ``year``."""
    raise NotImplementedError
