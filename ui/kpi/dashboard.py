"""The KPI dashboard page of the main window (issue 15).

For the picked report year: the KPI table and the selected KPI's run chart; every KPI's run
chart; the breakdowns; who missed each KPI and who is not yet due; data completeness; and what
still stands between the service and the FLS-DB deadline. Every figure comes from
``flsdesk.kpi`` in a ``BackgroundOp`` (off the GUI thread); a record in any list opens on the
form tab where its gap is answered.

Wiring (main window)::

    page = KpiPage(store)
    page.open_record_requested.connect(lambda rid, tab: window.open_record(rid, tab=tab))
    # after records change: page.mark_stale()  (recomputed when next shown)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flsdesk.answers import date_for_people
from flsdesk.datafiles import DataFileError
from flsdesk.kpi import annual
from flsdesk.kpi.completeness import Gap
from flsdesk.kpi.definitions import KpiSet, load_kpis
from flsdesk.store.store import Store
from flsdesk_ui.background import BackgroundOp, OpFailed
from flsdesk_ui.common import read_only_table
from flsdesk_ui.kpi import data as kd
from flsdesk_ui.kpi.chart import KpiChartView
from flsdesk_ui.kpi.style import BAND_TINTS, kpi2_words, percent_text
from flsdesk_ui.kpi.tables import (
    BreakdownRow,
    ColouredRowsModel,
    RecordLine,
    breakdown_model,
    kpi_table_model,
    record_list_model,
)
from flsdesk_ui.rows_model import RowsModel

log = logging.getLogger("ui.kpi")

YEARS_BACK = 5
KPI_COLUMN_WIDTHS = (40, 250, 95, 180, 85, 205, 60)  # the national average takes the rest
READINESS_LISTS: tuple[tuple[str, str, str], ...] = (
    ("drafts", "Drafts", "What is missing"),
    ("needs_correction", "Need correction", "What to correct"),
    ("followups_due", "Follow-ups due", "Follow-up"),
    ("not_exported", "Not exported", "Export"),
)
DIMENSION_TITLES = {
    "age": "Age at diagnosis",
    "gender": "Gender",
    "care home": "Care home residence",
    "site": "Index fracture site",
}


def deadline_status(today: date, kpis: KpiSet | None = None) -> str:
    """The status bar's countdown to the next FLS-DB deadline (from 1 March; else nothing)."""
    year = annual.default_report_year(today, kpis)
    left = annual.days_left(today, year, kpis)
    if left is None:
        return ""
    due = date_for_people(annual.deadline(year, kpis))
    if left == 0:
        return f"FLS-DB deadline for {year}: today ({due})"
    return f"FLS-DB deadline for {year}: {due}, {left} day{'s' if left != 1 else ''} left"


def year_choices(today: date, kpis: KpiSet | None = None) -> list[int]:
    """The years the picker offers, newest first: this year back YEARS_BACK years, and the
    default one whatever it is."""
    years = set(range(today.year - YEARS_BACK, today.year + 1))
    years.add(annual.default_report_year(today, kpis))
    return sorted(years, reverse=True)


def _record_table(name: str, detail_title: str) -> tuple[QTableView, RowsModel]:
    view = read_only_table(name, fit_columns=False)
    model = record_list_model(detail_title, view)
    view.setModel(model)
    view.setWordWrap(False)
    view.verticalHeader().setDefaultSectionSize(24)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    for col, width in enumerate((110, 180, 100)):
        view.setColumnWidth(col, width)
    return view, model


class KpiPage(QWidget):
    open_record_requested = Signal(int, str)  # record id, the form tab to show
    loaded = Signal()  # the figures for the picked year are on screen
    load_failed = Signal(str)  # the figures could not be worked out: why, in words
    lists_loaded = Signal()  # the picked KPI's missed / not-yet-due lists are on screen
    report_saved = Signal(str, int)  # the PDF's path, its page count

    def __init__(
        self,
        store: Store,
        today: Callable[[], date] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("kpi_page")
        self.store = store
        self._today = today or store.today
        self.data: kd.DashboardData | None = None
        self.lists: kd.KpiLists | None = None
        self._stale = True
        self._op: BackgroundOp | None = None
        self._lists_op: BackgroundOp | None = None
        self._gap_op: BackgroundOp | None = None
        self._report_op: BackgroundOp | None = None
        self._charts: dict[int, KpiChartView] = {}
        self._save_after_load = False
        # The KPI file in use (an override wins); a broken one is reported when the figures
        # are worked out, and the deadline falls back to the bundled file meanwhile.
        self.kpis: KpiSet | None
        try:
            self.kpis = load_kpis(store.paths)
        except DataFileError:
            self.kpis = None

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Report year:"))
        self.year_picker = QComboBox(objectName="kpi_year")
        self.year_picker.setAccessibleName("Report year")
        self.year_picker.setToolTip(
            "The audit year (1 January – 31 December by date of diagnosis). It starts on the "
            "year whose FLS-DB deadline is next."
        )
        top.addWidget(self.year_picker)
        self.period_label = QLabel(objectName="kpi_period")
        top.addWidget(self.period_label, 1)
        self.busy = QProgressBar(objectName="kpi_busy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.setTextVisible(False)
        self.busy.hide()
        top.addWidget(self.busy)
        self.refresh_button = QPushButton("Refresh", objectName="kpi_refresh")
        self.refresh_button.setToolTip("Work the figures out again from the records as they are")
        self.pdf_button = QPushButton("Save report as PDF…", objectName="kpi_save_pdf")
        self.pdf_button.setToolTip(
            "A report for a governance meeting: the KPI table, a chart per KPI and the data "
            "completeness; patient lists only if you ask for them"
        )
        top.addWidget(self.refresh_button)
        top.addWidget(self.pdf_button)
        layout.addLayout(top)
        self.message = QLabel(objectName="kpi_message")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        self.tabs = QTabWidget(objectName="kpi_tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_kpi_tab(), "KPIs")
        self.tabs.addTab(self._build_charts_tab(), "Run charts")
        self.tabs.addTab(self._build_breakdown_tab(), "Breakdowns")
        self.tabs.addTab(self._build_missed_tab(), "Who missed it")
        self.tabs.addTab(self._build_completeness_tab(), "Data completeness")
        self.tabs.addTab(self._build_readiness_tab(), "Deadline readiness")
        layout.addWidget(self.tabs, 1)

        day = self._today()
        default = annual.default_report_year(day, self.kpis)
        for year in year_choices(day, self.kpis):
            self.year_picker.addItem(
                f"{year} (deadline {date_for_people(annual.deadline(year, self.kpis))})", year
            )
        self.year_picker.setCurrentIndex(self.year_picker.findData(default))
        self.year_picker.currentIndexChanged.connect(lambda _i: self.reload())
        self.refresh_button.clicked.connect(self.reload)
        self.pdf_button.clicked.connect(self.save_pdf)
        self.pdf_button.setEnabled(False)

    # -- building ------------------------------------------------------------------------------

    def _build_kpi_tab(self) -> QWidget:
        self.kpi_model = kpi_table_model(None, self)
        self.kpi_view = read_only_table("kpi_table", self.kpi_model, fit_columns=False)
        self.kpi_view.verticalHeader().setDefaultSectionSize(26)
        header = self.kpi_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.kpi_view.setAccessibleName("KPI table")
        self.chart = KpiChartView(objectName="kpi_chart")
        side = QVBoxLayout()
        self.kpi_detail = QLabel(objectName="kpi_detail")
        self.kpi_detail.setWordWrap(True)
        self.kpi_detail.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.show_missed_button = QPushButton("Who missed it…", objectName="kpi_show_missed")
        self.show_missed_button.setToolTip(
            "The records this KPI counts but misses, and those not yet due"
        )
        side.addWidget(self.kpi_detail, 1)
        side.addWidget(self.show_missed_button)
        side_box = QWidget()
        side_box.setLayout(side)
        side_box.setMaximumWidth(300)
        lower = QWidget()
        row = QHBoxLayout(lower)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.chart, 1)
        row.addWidget(side_box)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.kpi_view)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.kpi_splitter = splitter
        self.notes = QLabel(objectName="kpi_notes")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #555555")
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(splitter, 1)
        col.addWidget(self.notes)
        self.kpi_view.selectionModel().currentRowChanged.connect(self._kpi_selected)
        self.kpi_view.activated.connect(lambda _i: self.show_missed())
        self.show_missed_button.clicked.connect(lambda: self.show_missed())
        self.show_missed_button.setEnabled(False)
        return page

    def _build_charts_tab(self) -> QWidget:
        self.charts_area = QScrollArea(objectName="kpi_charts_area")
        self.charts_area.setWidgetResizable(True)
        holder = QWidget()
        self.charts_grid = QGridLayout(holder)
        self.charts_area.setWidget(holder)
        return self.charts_area

    def _build_breakdown_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("Break down by:"))
        self.dimension_picker = QComboBox(objectName="kpi_dimension")
        self.dimension_picker.setAccessibleName("Break down by")
        row.addWidget(self.dimension_picker)
        row.addStretch(1)
        col.addLayout(row)
        self.breakdown_view = read_only_table("kpi_breakdown_table", fit_columns=False)
        self.breakdown_view.setWordWrap(False)
        col.addWidget(self.breakdown_view, 1)
        self.breakdown_legend = QLabel(objectName="kpi_breakdown_legend")
        self.breakdown_legend.setWordWrap(True)
        col.addWidget(self.breakdown_legend)
        self.dimension_picker.currentIndexChanged.connect(lambda _i: self._show_breakdown())
        return page

    def _build_missed_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(QLabel("KPI:"))
        self.missed_picker = QComboBox(objectName="kpi_missed_picker")
        self.missed_picker.setAccessibleName("KPI whose lists to show")
        row.addWidget(self.missed_picker, 1)
        col.addLayout(row)
        self.missed_heading = QLabel(objectName="kpi_missed_heading")
        self.missed_heading.setWordWrap(True)
        col.addWidget(self.missed_heading)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.missed_box = QGroupBox("Missed")
        box = QVBoxLayout(self.missed_box)
        self.missed_view, self.missed_model = _record_table("kpi_missed_table", "What is missing")
        self.missed_view.setAccessibleName("Records that missed the KPI")
        box.addWidget(self.missed_view)
        self.waiting_box = QGroupBox("Not yet due")
        box2 = QVBoxLayout(self.waiting_box)
        self.waiting_view, self.waiting_model = _record_table("kpi_waiting_table", "Counts from")
        self.waiting_view.setAccessibleName("Records not yet due")
        box2.addWidget(self.waiting_view)
        splitter.addWidget(self.missed_box)
        splitter.addWidget(self.waiting_box)
        col.addWidget(splitter, 1)
        hint = QLabel("Enter or double-click opens the record on the tab where the gap is.")
        hint.setStyleSheet("color: palette(mid)")
        col.addWidget(hint)
        self.missed_picker.currentIndexChanged.connect(lambda _i: self._load_lists())
        for view in (self.missed_view, self.waiting_view):
            view.activated.connect(lambda index, v=view: self._open_from(v, index))
        return page

    def _build_completeness_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        self.completeness_heading = QLabel(objectName="kpi_completeness_heading")
        self.completeness_heading.setWordWrap(True)
        col.addWidget(self.completeness_heading)
        self.gap_model = ColouredRowsModel(
            [
                ("Question", lambda g: g.question),
                ("Label", lambda g: g.label),
                ("Lacking", lambda g: g.lacking),
                ("Applies to", lambda g: g.applicable),
                ("Share lacking", lambda g: percent_text(g.share)),
            ],
            background=lambda g, c: BAND_TINTS["red"] if self._weak(g) and c == 4 else None,
            tooltip=lambda g: (
                f"{g.lacking} of {g.applicable} records lack {g.question}. "
                "Enter or double-click lists them."
            ),
            parent=self,
        )
        self.gap_view = read_only_table("kpi_gap_table", self.gap_model, fit_columns=False)
        self.gap_view.setWordWrap(False)
        for c, width in enumerate((70, 240, 65, 80)):
            self.gap_view.setColumnWidth(c, width)
        self.gap_view.setAccessibleName("Data completeness, worst first")
        self.gap_records_box = QGroupBox("Records lacking the question")
        box = QVBoxLayout(self.gap_records_box)
        self.gap_records_view, self.gap_records_model = _record_table("kpi_gap_records", "Lacking")
        box.addWidget(self.gap_records_view)
        self.drafts_box = QGroupBox("Drafts and their missing questions")
        box2 = QVBoxLayout(self.drafts_box)
        self.drafts_view, self.drafts_model = _record_table("kpi_drafts_table", "Missing")
        box2.addWidget(self.drafts_view)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.gap_records_box)
        right.addWidget(self.drafts_box)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.gap_view)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        col.addWidget(splitter, 1)
        self.gap_view.activated.connect(self._open_gap)
        self.gap_view.doubleClicked.connect(self._open_gap)
        for view in (self.gap_records_view, self.drafts_view):
            view.activated.connect(lambda index, v=view: self._open_from(v, index))
        return page

    def _build_readiness_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        self.readiness_heading = QLabel(objectName="kpi_readiness_heading")
        self.readiness_heading.setWordWrap(True)
        col.addWidget(self.readiness_heading)
        self.readiness_tabs = QTabWidget(objectName="kpi_readiness_tabs")
        self.readiness_views: dict[str, tuple[QTableView, RowsModel]] = {}
        for key, title, detail in READINESS_LISTS:
            view, model = _record_table(f"kpi_ready_{key}", detail)
            view.activated.connect(lambda index, v=view: self._open_from(v, index))
            self.readiness_views[key] = (view, model)
            self.readiness_tabs.addTab(view, title)
        col.addWidget(self.readiness_tabs, 1)
        return page

    # -- loading -------------------------------------------------------------------------------

    def year(self) -> int:
        return int(self.year_picker.currentData())

    def mark_stale(self) -> None:
        """Records changed: recompute now if the page is in view, else when next shown."""
        self._stale = True
        if self.isVisible():
            self.reload()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()

    @property
    def loading(self) -> bool:
        return self._op is not None

    def reload(self) -> None:
        """Work the figures out for the picked year, off the GUI thread: the KPIs first (on
        screen as soon as they are in), then the completeness table and the readiness lists."""
        self._stale = False
        if self._op is not None:
            self._op.cancel()  # its outcome is ignored: only the latest op's counts
        year = self.year()
        today = self._today()
        store = self.store
        self.busy.show()
        self.pdf_button.setEnabled(False)
        self.message.setText(f"Working out the KPIs for {year}…")
        self.message.setStyleSheet("")
        self._start(
            lambda _progress, _cancelled: kd.gather_kpis(store, year, today), self._kpis_loaded
        )

    def _start(self, job: Any, on_success: Callable[[kd.DashboardData], None]) -> None:
        op = BackgroundOp(
            job,
            name="KPI dashboard",
            cancel_types=(kd.Cancelled,),
            unexpected_message="The figures could not be worked out; see the log.",
        )
        self._op = op
        op.succeeded.connect(lambda result, op=op: on_success(result) if self._ended(op) else None)
        op.failed.connect(lambda error, op=op: self._failed(op, error))
        op.cancelled.connect(lambda _m, op=op: self._ended(op))
        op.start()

    def _ended(self, op: BackgroundOp) -> bool:
        """True when ``op`` is the one whose outcome counts (the latest)."""
        if op is not self._op:
            return False
        self._op = None
        self.busy.hide()
        return True

    def _failed(self, op: BackgroundOp, error: OpFailed) -> None:
        if not self._ended(op):
            return
        self.message.setText(
            error.message
            if error.unexpected
            else f"The figures for {self.year()} could not be worked out. {error.message}"
        )
        self.message.setStyleSheet("color: #b3261e")
        self.load_failed.emit(error.message)

    def _kpis_loaded(self, data: kd.DashboardData) -> None:
        self.data = data
        report = data.report
        log.info("KPI dashboard: %d records counted for %d", report.records_counted, data.year)
        self.period_label.setText(
            f"Fractures diagnosed {date_for_people(data.period.start)} – "
            f"{date_for_people(data.period.end)}, as of {date_for_people(data.today)}"
        )
        self.message.setText(
            self._summary(data) + " Working out the data completeness and the deadline lists…"
        )
        self.notes.setText(self._notes(data))
        self._show_kpis(data)
        self._show_charts(data)
        self._fill_breakdowns(data)
        self._fill_missed_picker(data)
        # The other year's completeness and lists must not stand beside these KPIs meanwhile.
        self.gap_model.set_items([])
        self.gap_records_model.set_items([])
        self.drafts_model.set_items([])
        for i, (key, title, _detail) in enumerate(READINESS_LISTS):
            self.readiness_views[key][1].set_items([])
            self.readiness_tabs.setTabText(i, title)
        waiting = "Working out…"
        self.completeness_heading.setText(waiting)
        self.readiness_heading.setText(waiting)
        store = self.store
        self.busy.show()
        self._start(
            lambda _progress, cancelled: kd.gather_rest(store, data, cancelled), self._loaded
        )

    def _loaded(self, data: kd.DashboardData) -> None:
        self.data = data
        self.message.setText(self._summary(data))
        self._show_completeness(data)
        self._show_readiness(data)
        self.pdf_button.setEnabled(True)
        self.loaded.emit()
        if self._save_after_load:
            self._save_after_load = False
            self.save_pdf()

    def _summary(self, data: kd.DashboardData) -> str:
        r = data.report
        text = f"{r.records_counted} record(s) counted (drafts included)"
        if r.records_with_errors:
            text += f"; {r.records_with_errors} with errors left out until corrected"
        return text + "."

    def _notes(self, data: kd.DashboardData) -> str:
        r = data.report
        parts = [kpi2_words(r)]
        if r.national_source:
            parts.append(f"National averages: {r.national_source}.")
        if any(res.provisional for res in r.results):
            parts.append(
                "* A provisional reading of the KPI's numerator or denominator (the official "
                "KPI document is not public)."
            )
        parts.append(
            "Not yet due: records whose KPI window has not closed yet, left out of the "
            "denominator and counted apart."
        )
        return " ".join(p for p in parts if p)

    def _show_kpis(self, data: kd.DashboardData) -> None:
        current = self._selected_kpi()
        model = kpi_table_model(data.kpis.national.year, self)
        model.set_items(data.report.results)
        self.kpi_view.setModel(model)
        self.kpi_model.deleteLater()
        self.kpi_model = model
        self.kpi_view.selectionModel().currentRowChanged.connect(self._kpi_selected)
        for col, width in enumerate(KPI_COLUMN_WIDTHS):
            self.kpi_view.setColumnWidth(col, width)
        # The whole table in view (eleven rows), the chart below takes what is left.
        rows_height = sum(self.kpi_view.rowHeight(i) for i in range(model.rowCount()))
        header_height = self.kpi_view.horizontalHeader().sizeHint().height()
        table_height = rows_height + header_height + 2 * self.kpi_view.frameWidth() + 2
        self.kpi_view.setMinimumHeight(min(table_height, 360))
        self.kpi_splitter.setSizes(
            [table_height, max(self.kpi_splitter.height() - table_height, 250)]
        )
        numbers = [r.number for r in data.report.results]
        row = numbers.index(current) if current in numbers else 0
        if numbers:
            self.kpi_view.selectRow(row)
            self._kpi_selected(model.index(row, 0))

    def _selected_kpi(self) -> int | None:
        index = self.kpi_view.currentIndex()
        item = self.kpi_model.item(index.row()) if index.isValid() else None
        return item.number if item is not None else None

    def _kpi_selected(self, index: QModelIndex, _previous: Any = None) -> None:
        if self.data is None or not index.isValid():
            return
        result = self.kpi_model.item(index.row())
        if result is None:
            return
        data = self.data
        self.chart.show_kpi(
            result,
            data.report.monthly.get(result.number, []),
            data.definition(result.number),
            data.kpis.national.year,
        )
        lines = [f"<b>KPI {result.number}: {result.name}</b>", result.band_words]
        if result.note or result.weak_fields:
            lines.append(result.note or "Weak fields: " + ", ".join(result.weak_fields))
        if result.not_yet_due:
            lines.append(f"{result.not_yet_due} record(s) not yet due.")
        self.kpi_detail.setText("<br>".join(lines))
        self.show_missed_button.setEnabled(self._has_lists(result.number))

    def _has_lists(self, number: int) -> bool:
        return self.missed_picker.findData(number) >= 0

    def _show_charts(self, data: kd.DashboardData) -> None:
        while self.charts_grid.count():
            item = self.charts_grid.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        self._charts = {}
        for i, result in enumerate(data.report.results):
            view = KpiChartView(compact=True, objectName=f"kpi_run_chart_{result.number}")
            view.show_kpi(
                result,
                data.report.monthly.get(result.number, []),
                data.definition(result.number),
                data.kpis.national.year,
            )
            self.charts_grid.addWidget(view, i // 2, i % 2)
            self._charts[result.number] = view

    def chart_views(self) -> dict[int, KpiChartView]:
        return dict(self._charts)

    # -- breakdowns ----------------------------------------------------------------------------

    def _fill_breakdowns(self, data: kd.DashboardData) -> None:
        keep = self.dimension_picker.currentData()
        self.dimension_picker.blockSignals(True)
        self.dimension_picker.clear()
        for key in data.report.breakdowns:
            self.dimension_picker.addItem(DIMENSION_TITLES.get(key, key.capitalize()), key)
        index = self.dimension_picker.findData(keep)
        self.dimension_picker.setCurrentIndex(max(index, 0))
        self.dimension_picker.blockSignals(False)
        self._show_breakdown()

    def _show_breakdown(self) -> None:
        if self.data is None:
            return
        key = self.dimension_picker.currentData()
        groups = self.data.report.breakdowns.get(key, {}) if key else {}
        rows = [
            BreakdownRow(
                r.number,
                r.name,
                {g: by_kpi[r.number] for g, by_kpi in groups.items() if r.number in by_kpi},
            )
            for r in self.data.report.results
        ]
        rows = [row for row in rows if row.results]
        model = breakdown_model(list(groups), self.breakdown_view)
        model.set_items(rows)
        old = self.breakdown_view.model()
        self.breakdown_view.setModel(model)
        if old is not None:
            old.deleteLater()
        self.breakdown_view.setColumnWidth(0, 260)
        for c in range(1, len(groups) + 1):
            self.breakdown_view.setColumnWidth(c, 135)
        self.breakdown_legend.setText(
            "Each cell: the KPI's value for the group (numerator/denominator), coloured by its "
            "band. Small groups swing widely: read the counts."
        )

    # -- who missed it -------------------------------------------------------------------------

    def _fill_missed_picker(self, data: kd.DashboardData) -> None:
        keep = self.missed_picker.currentData()
        self.missed_picker.blockSignals(True)
        self.missed_picker.clear()
        for result in data.report.results:
            # KPI 1 and 2 count questions and a caseload, not records: no list of their own.
            if result.number in (1, 2):
                continue
            self.missed_picker.addItem(f"KPI {result.number}: {result.name}", result.number)
        index = self.missed_picker.findData(keep)
        self.missed_picker.setCurrentIndex(max(index, 0))
        self.missed_picker.blockSignals(False)
        self._load_lists()
        current = self._selected_kpi()
        self.show_missed_button.setEnabled(current is not None and self._has_lists(current))

    def show_missed(self, kpi: int | None = None) -> None:
        """The "Who missed it" page on ``kpi`` (the selected KPI by default)."""
        number = kpi if kpi is not None else self._selected_kpi()
        if number is None or not self._has_lists(number):
            return
        self.tabs.setCurrentIndex(3)
        self.missed_picker.setCurrentIndex(self.missed_picker.findData(number))

    def _load_lists(self) -> None:
        if self.data is None or self.missed_picker.currentData() is None:
            return
        data = self.data
        number = int(self.missed_picker.currentData())
        store = self.store
        tab = kd.kpi_tab(data.definition(number), self.store.definitions.latest)
        self.missed_heading.setText(f"Listing the records for KPI {number}…")
        if self._lists_op is not None:
            self._lists_op.cancel()
        op = BackgroundOp(
            lambda _p, _c: kd.kpi_lists(store, data.report, number, tab),
            name="KPI lists",
            unexpected_message="The lists could not be made; see the log.",
        )
        self._lists_op = op
        op.succeeded.connect(lambda result, op=op: self._lists_loaded(op, result))
        op.failed.connect(lambda error, op=op: self._lists_failed(op, error))
        op.start()

    def _lists_failed(self, op: BackgroundOp, error: OpFailed) -> None:
        if op is self._lists_op:
            self._lists_op = None
            self.missed_heading.setText(error.message)

    def _lists_loaded(self, op: BackgroundOp, lists: kd.KpiLists) -> None:
        if op is not self._lists_op or self.data is None:
            return
        self._lists_op = None
        self.lists = lists
        result = self.data.report.result(lists.kpi)
        self.missed_model.set_items(lists.missed)
        self.waiting_model.set_items(lists.not_yet_due)
        self.missed_box.setTitle(f"Missed ({len(lists.missed)})")
        self.waiting_box.setTitle(f"Not yet due ({len(lists.not_yet_due)})")
        self.missed_heading.setText(
            f"KPI {result.number}: {result.name} — {percent_text(result.percent)}, "
            f"{result.band_words}. {len(lists.missed)} record(s) counted but missing it; "
            f"{len(lists.not_yet_due)} not yet due (still time to act)."
        )
        self.lists_loaded.emit()

    # -- completeness --------------------------------------------------------------------------

    def _weak(self, gap: Gap) -> bool:
        kpi1 = self.data.definition(1) if self.data is not None else None
        limit = kpi1.missing_share_above if kpi1 is not None else 20.0
        return gap.share > limit

    def _show_completeness(self, data: kd.DashboardData) -> None:
        self.gap_model.set_items(data.gaps)
        weak = sum(1 for g in data.gaps if self._weak(g))
        kpi1 = data.definition(1)
        limit = kpi1.missing_share_above if kpi1 is not None else 20.0
        self.completeness_heading.setText(
            f"Lite questions, worst first: the share of records (where the question applies) "
            f"that lack it. {weak} lacking in more than {limit:g} % of records (shaded). "
            "Enter or double-click a row to list its records."
        )
        self.gap_records_model.set_items([])
        self.gap_records_box.setTitle("Records lacking the question")
        self.drafts_model.set_items(data.drafts)
        self.drafts_box.setTitle(f"Drafts and their missing questions ({len(data.drafts)})")

    def _open_gap(self, index: QModelIndex) -> None:
        gap = self.gap_model.item(index.row()) if index.isValid() else None
        if gap is None:
            return
        store = self.store
        self.gap_records_box.setTitle(f"Records lacking {gap.question} {gap.label}…")
        if self._gap_op is not None:
            self._gap_op.cancel()
        op = BackgroundOp(
            lambda _p, _c: kd.gap_lines(store, gap.record_ids, f"{gap.question} empty", gap.tab),
            name="Completeness list",
        )
        self._gap_op = op
        op.succeeded.connect(lambda lines, op=op, gap=gap: self._gap_loaded(op, gap, lines))
        op.failed.connect(lambda error, op=op: self._gap_failed(op, error))
        op.start()

    def _gap_failed(self, op: BackgroundOp, error: OpFailed) -> None:
        if op is self._gap_op:
            self._gap_op = None
            self.gap_records_box.setTitle(error.message)

    def _gap_loaded(self, op: BackgroundOp, gap: Gap, lines: list[RecordLine]) -> None:
        if op is not self._gap_op:
            return
        self._gap_op = None
        self.gap_records_model.set_items(lines)
        self.gap_records_box.setTitle(f"Records lacking {gap.question} {gap.label} ({len(lines)})")

    # -- readiness -----------------------------------------------------------------------------

    def _show_readiness(self, data: kd.DashboardData) -> None:
        ready = data.readiness
        due = date_for_people(ready.deadline)
        if ready.days_left is not None:
            when = f"{ready.days_left} day{'s' if ready.days_left != 1 else ''} left"
        elif data.today > ready.deadline:
            when = "passed"
        else:
            when = "not yet counting down"
        if ready.ready:
            state = "Nothing outstanding: every record of the year is complete and sent."
        else:
            state = "Clear these lists before the deadline:"
        self.readiness_heading.setText(
            f"Report year {ready.year}: FLS-DB deadline {due} ({when}). {state}"
        )
        for i, (key, title, _detail) in enumerate(READINESS_LISTS):
            lines = data.ready_lines.get(key, [])
            self.readiness_views[key][1].set_items(lines)
            self.readiness_tabs.setTabText(i, f"{title} ({len(lines)})")

    # -- opening records -----------------------------------------------------------------------

    def _open_from(self, view: QTableView, index: QModelIndex) -> None:
        model = view.model()
        line = model.item(index.row()) if isinstance(model, RowsModel) else None
        if isinstance(line, RecordLine):
            self.open_record_requested.emit(line.record_id, line.tab)

    # -- the report ----------------------------------------------------------------------------

    def save_pdf(self) -> None:
        if self.data is None or not self.data.complete:
            return
        from flsdesk_ui.kpi.report_pdf import save_report

        op = save_report(self, self.store, self.data, self._report_saved)
        if op is None:
            return
        self._report_op = op
        self.pdf_button.setEnabled(False)
        self.busy.show()
        self.message.setText("Writing the report…")
        op.finished.connect(lambda op=op: self._report_ended(op))

    def _report_saved(self, path: str, pages: int) -> None:
        self.message.setText(f"Report saved: {path} ({pages} pages).")
        self.report_saved.emit(path, pages)

    def _report_ended(self, op: BackgroundOp) -> None:
        if op is not self._report_op:
            return
        self._report_op = None
        if self._op is None:
            self.busy.hide()
        if self.data is not None and self.data.complete:
            self.pdf_button.setEnabled(True)
        if op.error is not None:
            self.message.setText(self._summary(self.data) if self.data else "")

    def save_pdf_when_ready(self) -> None:
        """Save the report now, or as soon as the figures being worked out are in."""
        if self.data is not None and self.data.complete and not self.loading and not self._stale:
            self.save_pdf()
            return
        if not self.loading:
            self.reload()
        self._save_after_load = True

    def wait(self, ms: int = 30_000) -> None:
        """Block until every running job has ended (closing the window mid-work)."""
        for op in (self._op, self._lists_op, self._gap_op, self._report_op):
            if op is not None:
                op.cancel()
                op.wait(ms)
