"""Data completeness: per lite question, the share of records (where it applies) lacking it.

The same records as the KPIs (live, diagnosed in the period, no error; drafts count); a hidden
question does not apply. 6.01 and 7.01 become lite only once their window has passed (the
dataset's ``lite_when``), so they count only for records old enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flsdesk.kpi.definitions import load_kpis
from flsdesk.kpi.engine import Period, _lite_gaps, _Scan

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
    kset = load_kpis(store.paths)
    lacking: dict[str, list[int]] = {}
    applicable: dict[str, int] = {}
    for seen in _Scan(store, period, today, kset, (), lite=True):
        apply, lack = _lite_gaps(seen)
        for q in apply:
            applicable[q] = applicable.get(q, 0) + 1
        for q in lack:
            lacking.setdefault(q, []).append(seen.id)
    definition = store.definitions.latest
    order = {q: i for i, q in enumerate(definition.questions)}
    gaps = []
    for q, n in applicable.items():
        ids = lacking.get(q, [])
        question = definition.questions.get(q)
        gaps.append(
            Gap(
                question=q,
                label=question.label if question else q,
                lacking=len(ids),
                applicable=n,
                share=100.0 * len(ids) / n,
                record_ids=tuple(ids),
                tab=question.tab if question else "",
            )
        )
    gaps.sort(key=lambda g: (-g.share, order.get(g.question, len(order)), g.question))
    return gaps


ALL_TIME = Period(date(1900, 1, 1), date(9999, 12, 31))


def drafts(store: Store, period: Period | None, today: date) -> list[Draft]:
    """The live drafts (diagnosed in ``period``, or all when None) with their missing questions,
    oldest diagnosis first. A record with errors is not a draft (it needs correction)."""
    kset = load_kpis(store.paths)
    out: list[Draft] = []
    for seen in _Scan(store, period or ALL_TIME, today, kset, (), lite=True):
        _, lack = _lite_gaps(seen)
        if not lack:
            continue
        questions = seen.plan.definition.questions
        words = "; ".join(f"{q} {questions[q].label}" for q in lack if q in questions)
        out.append(Draft(seen.id, seen.nhs_number, seen.diagnosed, lack, words))
    return out
