"""Table model over the patient list: ordered ids up front, rows fetched a page at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from flsdesk import patient_list as pl
from flsdesk.answers import date_for_people, nhs_for_people
from flsdesk.queries import StoreQueries
from flsdesk.rules import DRAFT, NEEDS_CORRECTION

PAGE = 200
NEXT_FOLLOWUP = "next_followup"
_STATUS_COLOURS = {NEEDS_CORRECTION: QColor("#b00020"), DRAFT: QColor("#8a5a00")}
Index = QModelIndex | QPersistentModelIndex


class PatientTableModel(QAbstractTableModel):
    ID_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(
        self,
        queries: StoreQueries,
        next_followups: Callable[[list[int]], dict[int, Any]] | None = None,
        parent=None,  # type: ignore[no-untyped-def]
        explain: Callable[[int], str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.queries = queries
        self.query = pl.ListQuery()
        self.ids: list[int] = []
        self._rows: dict[int, pl.ListRow] = {}
        self._next: dict[int, Any] = {}
        # The next follow-up is computed per page (it depends on today), so it is shown but
        # not sortable: the list's order always comes from indexed columns.
        self._next_followups = next_followups
        # The status's tooltip says which error or what is missing: one record at a time, on
        # hover, so the list never evaluates records to be drawn.
        self.explain = explain
        self._why: dict[int, str] = {}
        self.columns = list(pl.COLUMNS)
        if next_followups is not None:
            self.columns.append(pl.Column(NEXT_FOLLOWUP, "Next follow-up"))

    # -- queries ---------------------------------------------------------------------------

    def set_query(self, query: pl.ListQuery) -> None:
        self.query = query
        self.refresh()

    def set_search(self, text: str) -> None:
        self.set_query(replace(self.query, search=text))

    def refresh(self) -> None:
        self.beginResetModel()
        self.ids = self.queries.matching_ids(self.query)
        self._rows = {}
        self._next = {}
        self._why = {}
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns) or self.columns[column].key == NEXT_FOLLOWUP:
            return
        self.set_query(
            replace(
                self.query,
                sort=self.columns[column].key,
                descending=order == Qt.SortOrder.DescendingOrder,
            )
        )

    def record_id(self, row: int) -> int | None:
        return self.ids[row] if 0 <= row < len(self.ids) else None

    def row_of(self, record_id: int) -> int:
        try:
            return self.ids.index(record_id)
        except ValueError:
            return -1

    def _row(self, row: int) -> pl.ListRow | None:
        record_id = self.ids[row]
        found = self._rows.get(record_id)
        if found is None:
            start = (row // PAGE) * PAGE
            page = self.ids[start : start + PAGE]
            self._rows.update(self.queries.rows_for(page))
            if self._next_followups is not None:
                self._next.update(self._next_followups(page))
            found = self._rows.get(record_id)
        return found

    # -- Qt model --------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.ids):
            return None
        row = self._row(index.row())
        if row is None:
            return None
        key = self.columns[index.column()].key
        if role == self.ID_ROLE:
            return row.id
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if key == NEXT_FOLLOWUP:
                nxt = self._next.get(row.id)
                return "" if nxt is None else nxt.text
            value = row.value(key)
            if key == "nhs_number":
                return nhs_for_people(value)
            if key == "status":
                return pl.status_text(row.status, row.missing_count)
            if isinstance(value, date):
                return date_for_people(value)
            return value or ""
        if role == Qt.ItemDataRole.ToolTipRole and key == "status" and self.explain is not None:
            why = self._why.get(row.id)
            if why is None:
                why = self._why[row.id] = self.explain(row.id)
            return why
        if role == Qt.ItemDataRole.ForegroundRole and key == "status":
            colour = _STATUS_COLOURS.get(row.status)
            return QBrush(colour) if colour else None
        return None
