"""'Save report as PDF': the service's KPI report for a governance meeting.

A4 portrait, in this order: a cover (service, period, date, the bands at a glance, whether the
file holds patient identifiers); the KPI table; one run chart per KPI, two to a page, drawn as
vectors straight from the dashboard's QtCharts chart; the data completeness table; and only if
the user ticked "include the patient lists", each KPI's missed and not-yet-due lists with NHS
numbers (never names), every page then marked as holding patient identifiers.

Written owner-only (0600) through ``files.private_path``, like every other file saved for the
user. Nothing is counted here: every figure comes from ``flsdesk.kpi`` via ``DashboardData``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PySide6.QtCharts import QChart, QChartView
from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from flsdesk import __version__, files
from flsdesk.answers import date_for_people, nhs_for_people
from flsdesk.store.settings import ORG_CODE, SERVICE_NAME
from flsdesk.store.store import Store
from flsdesk_ui.common import ask_save_path, ok_cancel
from flsdesk_ui.kpi import data as kd
from flsdesk_ui.kpi.chart import build_chart
from flsdesk_ui.kpi.style import (
    BAND_COLOURS,
    BAND_TINTS,
    fraction_text,
    kpi2_words,
    percent_text,
    target_text,
    value_text,
)
from flsdesk_ui.kpi.tables import national_header

log = logging.getLogger("ui.kpi.report")

# Page geometry in points (the writer works at 72 dots per inch: one unit, one point).
DPI = 72
MARGIN = 40.0
FOOTER = 22.0
HEADER = 20.0
CHARTS_PER_PAGE = 2
# A chart is laid out at screen size (96 px an inch) and drawn scaled onto the page, so its
# fonts come out at the point sizes the screen shows.
SCREEN_DPI = 96
WARNING_COLOUR = "#b3261e"
IDENTIFIERS_WARNING = (
    "This report holds NHS numbers: it is patient-identifiable data. Keep it on NHS systems, "
    "share it only with people entitled to see these patients' records, and delete it when it "
    "is no longer needed."
)


@dataclass(frozen=True)
class ReportContent:
    service: str
    org_code: str
    produced: date
    data: kd.DashboardData
    # KPI number -> its lists; None unless the user asked for the patient lists.
    lists: dict[int, kd.KpiLists] | None = None

    @property
    def identifiers(self) -> bool:
        return self.lists is not None


# -- the HTML of the text pages ------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text))


STYLE = (
    "<style>"
    "body { font-family: 'DejaVu Sans'; font-size: 9pt; color: #111111; }"
    "h1 { font-size: 20pt; margin-bottom: 4pt; }"
    "h2 { font-size: 13pt; margin-top: 10pt; margin-bottom: 6pt; }"
    "h3 { font-size: 10.5pt; margin-top: 10pt; margin-bottom: 4pt; }"
    "th { background-color: #e4e7ec; text-align: left; }"
    "td, th { padding: 3px; }"
    ".note { color: #444444; font-size: 8pt; }"
    ".warn { color: " + WARNING_COLOUR + "; font-weight: bold; }"
    "</style>"
)


def _lines(text: object) -> str:
    return _e(text).replace("\n", "<br>")


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int] = ()
) -> str:
    """An HTML table; a cell given as (text, background) is shaded."""
    head = "".join(
        f"<th width='{widths[i]}%'>{_e(h)}</th>" if i < len(widths) else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):
                text, colour = cell
                cells.append(f"<td bgcolor='{colour}'>{_lines(text)}</td>")
            else:
                cells.append(f"<td>{_lines(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table border='1' cellspacing='0' cellpadding='3' width='100%' "
        "style='border-collapse: collapse; border-color: #9aa0a6'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _period_words(content: ReportContent) -> str:
    p = content.data.period
    return f"fractures diagnosed {date_for_people(p.start)} – {date_for_people(p.end)}"


def cover_html(content: ReportContent) -> str:
    d = content.data
    r = d.report
    service = content.service or "Fracture Liaison Service"
    code = f" ({_e(content.org_code)})" if content.org_code else ""
    counts = {band: 0 for band in ("green", "amber", "red", None)}
    for res in r.results:
        if res.number != 1:
            counts[res.band] += 1
    glance = ", ".join(
        f"<span style='color: {BAND_COLOURS[band]}'><b>{n} {word}</b></span>"
        for band, word, n in (
            ("green", "green", counts["green"]),
            ("amber", "amber", counts["amber"]),
            ("red", "red", counts["red"]),
            (None, "no data", counts[None]),
        )
    )
    kpi1 = next((res for res in r.results if res.number == 1), None)
    parts = [
        STYLE,
        "<br><br><br>",
        "<p style='font-size: 11pt; color: #444444'>Fracture Liaison Service Database (FLS-DB)</p>",
        f"<h1>Local KPI report {d.year}</h1>",
        f"<p style='font-size: 14pt'><b>{_e(service)}</b>{code}</p>",
        f"<p style='font-size: 11pt'>Period: {_e(_period_words(content))}<br>",
        f"Figures as of {date_for_people(d.today)}; produced on "
        f"{date_for_people(content.produced)} by flsdesk {_e(__version__)}<br>",
        f"FLS-DB deadline for {d.year}: {date_for_people(d.readiness.deadline)}</p>",
        "<br>",
        f"<h3>At a glance: KPIs 2–11</h3><p style='font-size: 11pt'>{glance}</p>",
    ]
    if kpi1 is not None:
        parts.append(
            f"<p>KPI 1 (data completeness): {_e(value_text(kpi1))} — {_e(kpi1.band_words)}.</p>"
        )
    parts.append(
        f"<p>{r.records_counted} record(s) counted (drafts included)"
        + (
            f"; {r.records_with_errors} with errors left out until corrected"
            if r.records_with_errors
            else ""
        )
        + ".</p>"
    )
    parts.append("<br>")
    if content.identifiers:
        parts.append(f"<p class='warn' style='font-size: 11pt'>{_e(IDENTIFIERS_WARNING)}</p>")
    else:
        parts.append(
            "<p style='font-size: 10pt'>This report holds no patient identifiers: figures only.</p>"
        )
    parts.append(
        "<p class='note'>Calculated by flsdesk from the service's own records, following the "
        "FLS-DB KPI definitions as published; a definition marked * is a provisional reading. "
        "The national audit's own figures may differ slightly.</p>"
    )
    return "".join(parts)


def kpi_table_html(content: ReportContent) -> str:
    d = content.data
    r = d.report
    rows = []
    for res in r.results:
        tint = BAND_TINTS[res.band]
        rows.append(
            [
                str(res.number),
                res.name + (" *" if res.provisional else ""),
                (value_text(res), tint),
                fraction_text(res),
                str(res.not_yet_due or ""),
                (res.band_words, tint),
                target_text(res.target),
                percent_text(res.national) if res.national is not None else "",
            ]
        )
    notes = [kpi2_words(r)]
    notes.append(
        "Bands compare the unrounded percentage with each KPI's own limits: green at or above "
        "its target line, red below its lower line, amber between. "
        "\u201cNot yet due\u201d: records whose KPI window (90 days, 16 weeks or one year) has "
        "not closed yet, left out of the denominator and counted apart."
    )
    if r.national_source:
        notes.append(f"National averages: {r.national_source}.")
    if any(res.provisional for res in r.results):
        notes.append(
            "* A provisional reading of the numerator or denominator: the official KPI document "
            "is not public."
        )
    for res in r.results:
        # KPI 2's own note says what the caseload sentence above says.
        if res.number != 2 and (res.note or res.weak_fields):
            notes.append(f"KPI {res.number}: {res.note or ', '.join(res.weak_fields)}")
    return (
        STYLE
        + "<h2>Key performance indicators</h2>"
        + f"<p>{_e(_period_words(content).capitalize())}, as of {date_for_people(d.today)}.</p>"
        + _table(
            [
                "KPI",
                "Name",
                "Value",
                "Numerator / denominator",
                "Not yet due",
                "Band",
                "Target",
                national_header(d.kpis.national.year),
            ],
            rows,
            (5, 24, 10, 14, 7, 17, 9, 14),
        )
        + "".join(f"<p class='note'>{_e(n)}</p>" for n in notes)
    )


DIMENSION_TITLES = {
    "age": "Age at diagnosis",
    "gender": "Gender",
    "care home": "Care home residence",
    "site": "Index fracture site",
}


def breakdowns_html(content: ReportContent) -> str:
    """Every KPI by age band, gender, care home residence and fracture site, as the national
    reports break them down: KPIs down, the groups across."""
    r = content.data.report
    parts = [
        STYLE,
        "<h2>Breakdowns</h2>",
        "<p>Each cell: the KPI's value for the group, with numerator/denominator, shaded by its "
        "band. Small groups swing widely: read the counts.</p>",
    ]
    for key, groups in r.breakdowns.items():
        names = list(groups)
        rows = []
        for res in r.results:
            cells: list[object] = [f"{res.number} {res.name}"]
            if not any(res.number in groups[g] for g in names):
                continue
            for g in names:
                cell = groups[g].get(res.number)
                if cell is None:
                    cells.append("")
                elif cell.percent is None:
                    cells.append(("no data", BAND_TINTS[None]))
                else:
                    cells.append(
                        (
                            f"{cell.percent:.1f} %\n{cell.numerator}/{cell.denominator}",
                            BAND_TINTS[cell.band],
                        )
                    )
            rows.append(cells)
        if not rows:
            continue
        first = 28
        each = (100 - first) // max(len(names), 1)
        parts.append(f"<br><h3>{_e(DIMENSION_TITLES.get(key, key.capitalize()))}</h3>")
        widths = [first, *([each] * len(names))]
        widths[-1] += 100 - sum(widths)
        parts.append(_table(["KPI", *names], rows, widths))
    return "".join(parts)


def completeness_html(content: ReportContent) -> str:
    d = content.data
    kpi1 = d.definition(1)
    limit = kpi1.missing_share_above if kpi1 is not None else 20.0
    rows = [
        [
            g.question,
            g.label,
            str(g.lacking),
            str(g.applicable),
            (percent_text(g.share), BAND_TINTS["red"])
            if g.share > limit
            else percent_text(g.share),
        ]
        for g in d.gaps
    ]
    weak = sum(1 for g in d.gaps if g.share > limit)
    text = (
        STYLE
        + "<h2>Data completeness</h2>"
        + "<p>Each lite question (where it applies), worst first: how many records lack it. "
        + f"{weak} question(s) are missing in more than {limit:g} % of records (shaded).</p>"
    )
    text += _table(
        ["Question", "Label", "Lacking", "Applies to", "Share lacking"], rows, (10, 50, 12, 13, 15)
    )
    if not d.gaps:
        text += "<p>No record in the period.</p>"
    text += (
        f"<p>{len(d.drafts)} draft record(s) in the period still have missing questions; "
        "the dashboard lists them.</p>"
    )
    return text


def lists_html(content: ReportContent) -> str:
    assert content.lists is not None
    d = content.data
    parts = [
        STYLE,
        "<h2>Patient lists</h2>",
        f"<p class='warn'>{_e(IDENTIFIERS_WARNING)}</p>",
        "<p>NHS numbers only, never names: look a patient up in flsdesk to act on the list.</p>",
    ]
    for number in sorted(content.lists):
        lists = content.lists[number]
        result = d.report.result(number)
        parts.append(f"<br><h3>KPI {number}: {_e(result.name)}</h3>")
        parts.append(f"<p><b>Missed ({len(lists.missed)})</b></p>")
        if lists.missed:
            parts.append(
                _table(
                    ["NHS number", "Fracture date", "What is missing"],
                    [
                        [nhs_for_people(m.nhs_number), date_for_people(m.diagnosed), m.detail]
                        for m in lists.missed
                    ],
                    (17, 16, 67),
                )
            )
        else:
            parts.append("<p>None.</p>")
        parts.append(f"<p><b>Not yet due ({len(lists.not_yet_due)})</b></p>")
        if lists.not_yet_due:
            parts.append(
                _table(
                    ["NHS number", "Fracture date", "Counts from"],
                    [
                        [nhs_for_people(w.nhs_number), date_for_people(w.diagnosed), w.detail]
                        for w in lists.not_yet_due
                    ],
                    (17, 16, 67),
                )
            )
        else:
            parts.append("<p>None.</p>")
    return "".join(parts)


# -- laying out and drawing ----------------------------------------------------------------------


class _Pages:
    """Draws the report page by page on one painter; knows the page count before drawing so
    every footer can say "page i of n"."""

    def __init__(self, writer: QPdfWriter, content: ReportContent) -> None:
        self.writer = writer
        self.content = content
        rect = writer.pageLayout().paintRectPoints()
        self.width = float(rect.width())
        self.height = float(rect.height())
        # With patient lists, every page starts with a line saying so (HEADER high).
        self.top = HEADER if content.identifiers else 0.0
        self.body = QRectF(0, self.top, self.width, self.height - FOOTER - self.top)

    def document(self, text: str) -> QTextDocument:
        doc = QTextDocument()
        doc.documentLayout().setPaintDevice(self.writer)
        font = QFont("DejaVu Sans")
        font.setPointSizeF(9)
        doc.setDefaultFont(font)
        doc.setHtml(text)
        doc.setPageSize(QSizeF(self.body.width(), self.body.height()))
        doc.setDocumentMargin(0)
        return doc

    def plan(self) -> list[tuple[str, object, int]]:
        """(kind, what, page within it) for every page, in order."""
        c = self.content
        pages: list[tuple[str, object, int]] = []
        sections: list[tuple[str, object]] = [
            ("text", self.document(cover_html(c))),
            ("text", self.document(kpi_table_html(c))),
        ]
        results = c.data.report.results
        for start in range(0, len(results), CHARTS_PER_PAGE):
            sections.append(
                ("charts", [r.number for r in results[start : start + CHARTS_PER_PAGE]])
            )
        if c.data.report.breakdowns:
            sections.append(("text", self.document(breakdowns_html(c))))
        sections.append(("text", self.document(completeness_html(c))))
        if c.identifiers:
            sections.append(("text", self.document(lists_html(c))))
        for kind, what in sections:
            if kind == "text":
                assert isinstance(what, QTextDocument)
                # The cover is one page whatever the text: it is short by design.
                count = 1 if not pages else what.pageCount()
                pages += [(kind, what, i) for i in range(count)]
            else:
                pages.append((kind, what, 0))
        return pages

    def draw(self) -> int:
        pages = self.plan()
        painter = QPainter()
        if not painter.begin(self.writer):
            raise OSError("The PDF file could not be started.")
        try:
            for index, (kind, what, page) in enumerate(pages):
                if index:
                    self.writer.newPage()
                if kind == "text":
                    assert isinstance(what, QTextDocument)
                    self._draw_text(painter, what, page)
                else:
                    assert isinstance(what, list)
                    self._draw_charts(painter, what)
                self._footer(painter, index + 1, len(pages))
        finally:
            painter.end()
        return len(pages)

    def _draw_text(self, painter: QPainter, doc: QTextDocument, page: int) -> None:
        painter.save()
        h = self.body.height()
        painter.translate(0, self.top - page * h)
        doc.drawContents(painter, QRectF(0, page * h, self.body.width(), h))
        painter.restore()

    def _draw_charts(self, painter: QPainter, numbers: list[int]) -> None:
        d = self.content.data
        gap = 14.0
        slot = (self.body.height() - gap * (CHARTS_PER_PAGE - 1)) / CHARTS_PER_PAGE
        for i, number in enumerate(numbers):
            result = d.report.result(number)
            chart = build_chart(
                result,
                d.report.monthly.get(number, []),
                d.definition(number),
                d.kpis.national.year,
            )
            target = QRectF(0, self.top + i * (slot + gap), self.width, slot)
            _render_chart(painter, chart, target)
            painter.save()
            painter.setPen(QColor("#9aa0a6"))
            painter.drawRect(target)
            painter.restore()

    def _footer(self, painter: QPainter, page: int, pages: int) -> None:
        c = self.content
        painter.save()
        font = QFont("DejaVu Sans")
        font.setPointSizeF(7.5)
        painter.setFont(font)
        y = self.height - FOOTER + 8
        line = QRectF(0, y, self.width, FOOTER - 8)
        left = f"{c.service or 'FLS'} · local KPI report {c.data.year} · produced " + (
            date_for_people(c.produced)
        )
        painter.setPen(QColor("#555555"))
        painter.drawText(
            line, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), left
        )
        painter.drawText(
            line,
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            f"page {page} of {pages}",
        )
        if c.identifiers:
            bold = QFont(font)
            bold.setBold(True)
            painter.setFont(bold)
            painter.setPen(QColor(WARNING_COLOUR))
            painter.drawText(
                QRectF(0, 0, self.width, HEADER - 6),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                "CONFIDENTIAL: this report holds NHS numbers (patient-identifiable data)",
            )
        painter.restore()


def _render_chart(painter: QPainter, chart: QChart, target: QRectF) -> None:
    """Lay the chart out at screen size and draw it, as vectors, into ``target`` (points)."""
    scale = SCREEN_DPI / DPI
    view = QChartView(chart)
    view.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    view.resize(int(target.width() * scale), int(target.height() * scale))
    chart.resize(QSizeF(target.width() * scale, target.height() * scale))
    source = QRectF(0, 0, target.width() * scale, target.height() * scale)
    view.scene().render(painter, target, source)
    view.deleteLater()


def write_report(target: Path, content: ReportContent) -> int:
    """Write the report to ``target`` (a path ``files.private_path`` gave); the page count."""
    writer = QPdfWriter(str(target))
    writer.setResolution(DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(MARGIN, MARGIN, MARGIN, MARGIN),
            QPageLayout.Unit.Point,
        )
    )
    writer.setTitle(f"Local KPI report {content.data.year}")
    writer.setCreator(f"flsdesk {__version__}")
    pages = _Pages(writer, content).draw()
    del writer  # the file is complete once the writer is gone
    return pages


# -- the dialog ----------------------------------------------------------------------------------


class ReportOptionsDialog(QDialog):
    """Asks whether the patient lists go in; warns what that means."""

    def __init__(self, year: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("report_options")
        self.setWindowTitle("Save report as PDF")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"The local KPI report for {year}: a cover, the KPI table, a run chart per KPI and "
            "the data completeness table. Figures only, unless you tick the box below."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.include_lists = QCheckBox(
            "Include the patient lists (each KPI's missed and not-yet-due records, "
            "by NHS number; never names)",
            objectName="report_include_lists",
        )
        layout.addWidget(self.include_lists)
        self.warning = QLabel(IDENTIFIERS_WARNING, objectName="report_identifiers_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {WARNING_COLOUR}; font-weight: bold")
        self.warning.setVisible(False)
        layout.addWidget(self.warning)
        self.buttons = ok_cancel(self, "Save…")
        layout.addWidget(self.buttons)
        self.include_lists.toggled.connect(self.warning.setVisible)
        self.include_lists.toggled.connect(lambda _on: self.adjustSize())


def _ask(dialog: QDialog) -> bool:
    return dialog.exec() == QDialog.DialogCode.Accepted


def save_report(parent: QWidget, store: Store, data: kd.DashboardData) -> None:
    """The "Save report as PDF" flow from the dashboard: options, file name, writing. A saved
    report is announced on ``parent.report_saved`` (path, pages); a failure in a message box."""
    dialog = ReportOptionsDialog(data.year, parent)
    accepted = _ask(dialog)
    with_lists = dialog.include_lists.isChecked()
    dialog.deleteLater()
    if not accepted:
        return
    target = ask_save_path(
        parent,
        "Save the KPI report as PDF",
        f"fls-kpi-report-{data.year}.pdf",
        "PDF files (*.pdf)",
        store.paths,
    )
    if target is None:
        return
    service = str(store.get_setting(SERVICE_NAME, "") or "").strip()
    org = str(store.get_setting(ORG_CODE, "") or "").strip()
    if not with_lists:
        _write(parent, store, target, ReportContent(service, org, store.today(), data))
        return
    # The lists as the report's own figures counted them: the PDF adds up, and needs no
    # second read of the store. No names: NHS numbers only.
    definition = store.definitions.latest
    lists = {
        r.number: kd.kpi_lists(
            None, data.report, r.number, kd.kpi_tab(data.definition(r.number), definition)
        )
        for r in data.report.results
        if r.number not in (1, 2)
    }
    _write(parent, store, target, ReportContent(service, org, store.today(), data, lists))


def _write(parent: QWidget, store: Store, target: Path, content: ReportContent) -> None:
    try:
        with files.private_path(target, paths=store.paths) as tmp:
            pages = write_report(tmp, content)
    except OSError as exc:
        QMessageBox.warning(
            parent,
            "Save report as PDF",
            f"Cannot write {target}: {exc.strerror or exc}. Nothing was saved.",
        )
        return
    log.info(
        "KPI report saved as PDF: %d page(s), patient lists %s",
        pages,
        "included" if content.identifiers else "left out",
    )
    done = getattr(parent, "report_saved", None)
    if done is not None:
        done.emit(str(target), pages)
