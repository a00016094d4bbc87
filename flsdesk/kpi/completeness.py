"""Data completeness: per lite question, the share of records (where it applies) lacking it.

The same records as the KPIs (live, diagnosed in the period, no error; drafts count); a hidden
question does not apply. 6.01 and 7.01 become lite only once their window has passed (the
dataset's ``lite_when``), so they count only for records old enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flsdesk.kpi.engine import Period

if TYPE_CHECKING:
    from flsdesk.store.store import Store


@dataclass(frozen=True)
class Gap:
    question: str
    label: str
    lacking: int
    applicable: int
    share: float  # percent of ``applicable`` lacking it, unrounded
    record_ids: tuple[int, ...]
    tab: str = ""


@dataclass(frozen=True)
class Draft:
    record_id: int
    nhs_number: str | None
    diagnosed: date | None
    missing: tuple[str, ...]  # question numbers, form order
    missing_words: str  # "1.07 Date of FLS assessment; 3.01 DXA scan"


def completeness(store: Store, period: Period, today: date) -> list[Gap]:
    """Every lite question that applies to at least one record, worst first (share, then
    form order)."""
    raise NotImplementedError


def drafts(store: Store, period: Period | None, today: date) -> list[Draft]:
    """The live drafts (diagnosed in ``period``, or all when None) with their missing questions."""
    raise NotImplementedError
