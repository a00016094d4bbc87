"""The audit's annual cycle (FAQ 29): 1 January – 31 December by diagnosis date, submitted by the
following May. The deadline's date rule lives in the KPI data file (``[annual]``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from flsdesk import followups
from flsdesk.exchange import batches
from flsdesk.kpi.completeness import drafts
from flsdesk.kpi.definitions import AnnualCycle, KpiSet, load_kpis
from flsdesk.kpi.engine import Period
from flsdesk.store.models import Record

if TYPE_CHECKING:
    from flsdesk.store.store import Store

R = Record.__table__.c


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


def _annual(kpis: KpiSet | None) -> AnnualCycle:
    return (kpis or load_kpis(None)).annual


def deadline(year: int, kpis: KpiSet | None = None) -> date:
    """The day by which ``year``'s records must be in for the annual report (31 May of the next
    year, by the data file)."""
    a = _annual(kpis)
    return date(year + a.deadline_years_after, a.deadline_month, a.deadline_day)


def default_report_year(today: date, kpis: KpiSet | None = None) -> int:
    """The year whose deadline is next: last year until its deadline has passed, then this
    year."""
    last = today.year - 1
    return last if today <= deadline(last, kpis) else today.year


def days_left(today: date, year: int, kpis: KpiSet | None = None) -> int | None:
    """Days from ``today`` to ``year``'s deadline (0 on the day), shown from 1 March of the
    deadline's year; None before that (and after the deadline)."""
    a = _annual(kpis)
    end = deadline(year, kpis)
    start = date(end.year, a.countdown_from_month, a.countdown_from_day)
    if start <= today <= end:
        return (end - today).days
    return None


def _item(row: Any, detail: str, tab: str = "") -> ReadinessItem:
    return ReadinessItem(row.id, row.nhs_number, row.diagnosed, detail, tab)


def readiness(store: Store, year: int, today: date, *, kpis: KpiSet | None = None) -> Readiness:
    """The lists a service clears before the deadline for ``year``: drafts (with their missing
    questions), records needing correction, follow-ups whose window has opened and are still
    unanswered, and records not yet sent (no row in a sent batch since their last change)."""
    kset = kpis or load_kpis(store.paths)
    period = Period.year(year)
    draft_items = [
        ReadinessItem(d.record_id, d.nhs_number, d.diagnosed, f"missing {d.missing_words}")
        for d in drafts(store, period, today)
    ]
    in_year = [
        R.deleted_at.is_(None),
        R.diagnosed >= period.start,
        R.diagnosed <= period.end,
    ]
    b, x = batches.batches_table.c, batches.rows_table.c
    sent_since_change = (
        select(x.record_id)
        .join(batches.batches_table, b.seq == x.batch_seq)
        .where(
            x.record_id == R.id,
            x.kind == batches.ROW,
            b.state == batches.SENT,
            b.created_at >= R.updated_at,
        )
        .exists()
    )
    columns = (R.id, R.nhs_number, R.diagnosed)
    with store.engine.connect() as conn:
        wrong = conn.execute(
            select(*columns).where(*in_year, R.has_errors.is_(True)).order_by(R.diagnosed, R.id)
        ).all()
        unsent = conn.execute(
            select(*columns)
            .where(*in_year, R.has_errors.is_(False), ~sent_since_change)
            .order_by(R.diagnosed, R.id)
        ).all()
    owed = [
        row
        for row in followups.worklist(
            store.engine,
            store.definitions,
            today,
            {followups.DUE, followups.OVERDUE, followups.MISSED},
        )
        if period.start <= row.diagnosed <= period.end
    ]
    return Readiness(
        year=year,
        deadline=deadline(year, kset),
        days_left=days_left(today, year, kset),
        drafts=draft_items,
        needs_correction=[_item(r, "has errors: held back from export") for r in wrong],
        followups_due=[
            ReadinessItem(
                r.record_id,
                r.nhs_number,
                r.diagnosed,
                f"{r.label} follow-up {r.state_text}",
                r.tab_id,
            )
            for r in owed
        ],
        not_exported=[_item(r, "not sent since its last change") for r in unsent],
    )
