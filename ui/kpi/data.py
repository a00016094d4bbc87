"""What the dashboard shows, gathered from ``flsdesk.kpi`` (no counting here): the jobs below
run off the GUI thread through ``BackgroundOp`` and never touch a widget."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

from flsdesk.answers import date_for_people
from flsdesk.kpi import annual, completeness, engine
from flsdesk.kpi.definitions import KpiDefinition, KpiSet, clause_questions, load_kpis
from flsdesk.queries import StoreQueries
from flsdesk_ui.background import CancelFn
from flsdesk_ui.kpi.tables import RecordLine

if TYPE_CHECKING:
    from flsdesk.dataset import Definition
    from flsdesk.store.store import Store

# Names are looked up this many records at a time (a database caps the values in one query).
_CHUNK = 500


@dataclass(frozen=True)
class DashboardData:
    """The figures of one report year. Worked out in two steps, so the KPI table is on screen
    while the rest is still being worked out: first the KPIs (``readiness`` None), then the
    completeness table and the readiness lists (``complete`` True)."""

    year: int
    period: engine.Period
    today: date
    kpis: KpiSet
    report: engine.KpiReport
    gaps: list[completeness.Gap] = field(default_factory=list)
    drafts: list[RecordLine] = field(default_factory=list)
    readiness: annual.Readiness | None = None
    ready_lines: dict[str, list[RecordLine]] = field(default_factory=dict)

    def definition(self, number: int) -> KpiDefinition | None:
        return self.kpis.by_number.get(number)

    @property
    def complete(self) -> bool:
        return self.readiness is not None


@dataclass(frozen=True)
class KpiLists:
    """One KPI's two lists: who missed it, and who is not yet due."""

    kpi: int
    missed: list[RecordLine]
    not_yet_due: list[RecordLine]


def names(store: Store, ids: Iterable[int]) -> dict[int, str | None]:
    wanted = sorted(set(ids))
    out: dict[int, str | None] = {}
    queries = StoreQueries(store)
    for start in range(0, len(wanted), _CHUNK):
        rows = queries.rows_for(wanted[start : start + _CHUNK])
        out.update({rid: row.name for rid, row in rows.items()})
    return out


def kpi_tab(kpi: KpiDefinition | None, definition: Definition | None) -> str:
    """The form tab where a KPI's numerator is answered (its first question in form order)."""
    if kpi is None or definition is None:
        return ""
    order = list(definition.questions)
    asked = [q for clause in kpi.numerator for q in clause_questions(clause) if q in order]
    if not asked:
        return ""
    return definition.questions[min(asked, key=order.index)].tab


def gather_kpis(store: Store, year: int, today: date) -> DashboardData:
    """The first step: the KPIs of the audit year ``year`` (overall, monthly, broken down)."""
    period = engine.Period.year(year)
    kpis = load_kpis(store.paths)
    report = engine.compute(store, period, today, kpis=kpis)
    return DashboardData(year, period, today, kpis, report)


def gather_rest(store: Store, first: DashboardData, cancelled: CancelFn) -> DashboardData:
    """The second step: data completeness and the readiness lists, with the patients' names."""
    gaps = completeness.completeness(store, first.period, first.today)
    if cancelled():
        raise Cancelled
    ready = annual.readiness(store, first.year, first.today, kpis=first.kpis)
    lists = {
        "drafts": ready.drafts,
        "needs_correction": ready.needs_correction,
        "followups_due": ready.followups_due,
        "not_exported": ready.not_exported,
    }
    who = names(store, [i.record_id for items in lists.values() for i in items])
    ready_lines = {
        key: [
            RecordLine(
                i.record_id, i.nhs_number, who.get(i.record_id), i.diagnosed, i.detail, i.tab
            )
            for i in items
        ]
        for key, items in lists.items()
    }
    return replace(
        first,
        gaps=gaps,
        drafts=ready_lines["drafts"],
        readiness=ready,
        ready_lines=ready_lines,
    )


def gather(store: Store, year: int, today: date) -> DashboardData:
    """Both steps at once (the PDF report from a script, tests)."""
    return gather_rest(store, gather_kpis(store, year, today), lambda: False)


class Cancelled(Exception):
    """The person moved on (another year picked) before the figures were ready."""


def kpi_lists(
    store: Store | None, report: engine.KpiReport, kpi: int, waiting_tab: str = ""
) -> KpiLists:
    """KPI ``kpi``'s two lists as ``report`` counted them (so they add up to its table), with
    the patients' names when ``store`` is given (the screen; never the PDF)."""
    missed = report.missed(kpi)
    waiting = report.not_yet_due(kpi)
    who = (
        names(store, [m.record_id for m in missed] + [w.record_id for w in waiting])
        if store is not None
        else {}
    )
    return KpiLists(
        kpi,
        [
            RecordLine(
                m.record_id,
                m.nhs_number,
                who.get(m.record_id),
                m.diagnosed,
                m.what_is_missing,
                m.tab,
            )
            for m in missed
        ],
        [
            RecordLine(
                w.record_id,
                w.nhs_number,
                who.get(w.record_id),
                w.diagnosed,
                f"counts from {date_for_people(w.due_on)}",
                waiting_tab,
            )
            for w in waiting
        ],
    )


def gap_lines(store: Store, record_ids: Sequence[int], detail: str, tab: str) -> list[RecordLine]:
    """The records lacking one question, for the completeness table's "open the list"."""
    rows = {}
    queries = StoreQueries(store)
    ids = list(record_ids)
    for start in range(0, len(ids), _CHUNK):
        rows.update(queries.rows_for(ids[start : start + _CHUNK]))
    lines = [
        RecordLine(rid, rows[rid].nhs_number, rows[rid].name, rows[rid].diagnosed, detail, tab)
        for rid in ids
        if rid in rows
    ]
    lines.sort(key=lambda line: (line.diagnosed or date.min, line.record_id))
    return lines
