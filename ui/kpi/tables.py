"""The dashboard's tables: the KPI table, a breakdown, and the lists of records (who missed a
KPI, who is not yet due, who lacks a question, what stands between the service and the deadline).

Models only format what ``flsdesk.kpi`` computed; a colour always comes with the band in words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from flsdesk.answers import date_for_people, nhs_for_people
from flsdesk.kpi.engine import KpiResult
from flsdesk_ui.kpi.style import BAND_TINTS, fraction_text, percent_text, target_text, value_text
from flsdesk_ui.rows_model import RowsModel

Index = QModelIndex | QPersistentModelIndex


class ColouredRowsModel(RowsModel):
    """RowsModel with a background per cell and a tooltip per row."""

    def __init__(
        self,
        columns: Sequence[tuple[str, Callable[[Any], Any]]],
        background: Callable[[Any, int], str | None] | None = None,
        tooltip: Callable[[Any], str | None] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(columns, parent)
        self._background = background
        self._tooltip = tooltip

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.BackgroundRole and self._background is not None:
            colour = self._background(item, index.column())
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.ForegroundRole and self._background is not None:
            # Dark text on the pale tints, whatever the desktop theme's text colour.
            if self._background(item, index.column()):
                return QBrush(QColor("#111111"))
            return None
        if role == Qt.ItemDataRole.ToolTipRole and self._tooltip is not None:
            return self._tooltip(item)
        return super().data(index, role)


# -- the KPI table ---------------------------------------------------------------------------


def national_header(year: int | None) -> str:
    return f"National average ({year})" if year else "National average"


def kpi_columns(national_year: int | None) -> list[tuple[str, Callable[[KpiResult], Any]]]:
    return [
        ("KPI", lambda r: r.number),
        ("Name", lambda r: r.name + (" *" if r.provisional else "")),
        ("Value", value_text),
        ("Numerator / denominator", fraction_text),
        ("Not yet due", lambda r: r.not_yet_due or ""),
        ("Band", lambda r: r.band_words),
        ("Target", lambda r: target_text(r.target)),
        (national_header(national_year), lambda r: percent_text(r.national) if r.national else ""),
    ]


BAND_COLUMNS = (2, 5)  # Value and Band carry the band's colour


def kpi_tooltip(result: KpiResult) -> str | None:
    parts = []
    if result.note or result.weak_fields:
        parts.append(result.note or "Weak fields: " + ", ".join(result.weak_fields))
    if result.not_yet_due:
        parts.append(
            f"{result.not_yet_due} record(s) are not yet due: their window has not closed, "
            "so they are left out of the denominator."
        )
    if result.provisional:
        parts.append("* The numerator or denominator is a provisional reading (see the notes).")
    return "\n".join(parts) or None


def kpi_table_model(national_year: int | None, parent: Any = None) -> ColouredRowsModel:
    return ColouredRowsModel(
        kpi_columns(national_year),
        background=lambda r, col: BAND_TINTS[r.band] if col in BAND_COLUMNS else None,
        tooltip=kpi_tooltip,
        parent=parent,
    )


# -- breakdowns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakdownRow:
    """One KPI across the groups of a dimension (age band, gender, …)."""

    number: int
    name: str
    results: Mapping[str, KpiResult]


def breakdown_cell(result: KpiResult | None) -> str:
    if result is None:
        return ""
    if result.percent is None:
        return "no data"
    return f"{result.percent:.1f} % ({result.numerator}/{result.denominator})"


def breakdown_model(groups: Sequence[str], parent: Any = None) -> ColouredRowsModel:
    """KPIs down, the dimension's groups across: a KPI's spread reads along its row."""
    columns: list[tuple[str, Callable[[BreakdownRow], Any]]] = [
        ("KPI", lambda row: f"{row.number} {row.name}")
    ]
    for g in groups:
        columns.append((g, lambda row, g=g: breakdown_cell(row.results.get(g))))

    def background(row: BreakdownRow, col: int) -> str | None:
        if col == 0:
            return None
        result = row.results.get(groups[col - 1])
        return BAND_TINTS[result.band] if result is not None else None

    def tooltip(row: BreakdownRow) -> str | None:
        return (
            "; ".join(f"{g}: {r.band_words}" for g, r in row.results.items() if r.band is not None)
            or None
        )

    return ColouredRowsModel(columns, background, tooltip, parent)


# -- lists of records ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordLine:
    """One record in a list the team acts on; ``tab`` is the form tab to open it on."""

    record_id: int
    nhs_number: str | None
    name: str | None
    diagnosed: date | None
    detail: str
    tab: str = ""


def record_list_model(detail_title: str, parent: Any = None) -> RowsModel:
    return RowsModel(
        [
            ("NHS number", lambda r: nhs_for_people(r.nhs_number)),
            ("Name", lambda r: r.name or ""),
            ("Fracture date", lambda r: date_for_people(r.diagnosed)),
            (detail_title, lambda r: r.detail),
        ],
        parent,
    )
