"""'Save report as PDF': the service's KPI report for a governance meeting.

A4 portrait, in this order: a cover (service, period, date, the bands at a glance, whether the
file holds patient identifiers); the KPI table; one run chart per KPI, two to a page, as vectors
(the dashboard's QtCharts chart recorded as a QPicture); the breakdowns by age, gender, care home
and site; the data completeness table; and only if the user ticked "include the patient lists",
each KPI's missed and not-yet-due lists with NHS numbers (never names), every page then marked
as holding patient identifiers.

Written owner-only (0600) through ``files.private_path``, like every other file saved for the
user, off the GUI thread. Nothing is counted here: every figure comes from ``flsdesk.kpi`` via
``DashboardData``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from PySide6.QtCharts import QChartView
from PySide6.QtCore import QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPicture,
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
from flsdesk_ui.background import BackgroundOp, CancelFn, OpFailed, ProgressFn
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
CHART_GAP = 14.0
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


# -- the patient lists: drawn row by row --------------------------------------------------------
#
# A large service's lists run to hundreds of pages; a rich-text table that long takes minutes to
# lay out, so the lists are laid out here directly: measured once, paginated with the table
# header repeated, drawn line by line.

LIST_COLUMNS = (0.17, 0.16, 0.67)
_WRAP = int(
    Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignTop
)  # NHS number, fracture date, the words: shares of the width
PAD = 3.0


@dataclass(frozen=True)
class _Block:
    kind: str  # "title" | "warning" | "text" | "heading" | "subheading" | "header" | "row"
    cells: tuple[str, ...]
    height: float = 0.0


def _list_blocks(content: ReportContent) -> list[_Block]:
    assert content.lists is not None
    d = content.data
    blocks = [
        _Block("title", ("Patient lists",)),
        _Block("warning", (IDENTIFIERS_WARNING,)),
        _Block(
            "text",
            ("NHS numbers only, never names: look a patient up in flsdesk to act on the list.",),
        ),
    ]
    for number in sorted(content.lists):
        lists = content.lists[number]
        result = d.report.result(number)
        blocks.append(_Block("heading", (f"KPI {number}: {result.name}",)))
        for title, lines, words in (
            ("Missed", lists.missed, "What is missing"),
            ("Not yet due", lists.not_yet_due, "Counts from"),
        ):
            blocks.append(_Block("subheading", (f"{title} ({len(lines)})",)))
            if not lines:
                blocks.append(_Block("text", ("None.",)))
                continue
            blocks.append(_Block("header", ("NHS number", "Fracture date", words)))
            blocks += [
                _Block(
                    "row",
                    (nhs_for_people(line.nhs_number), date_for_people(line.diagnosed), line.detail),
                )
                for line in lines
            ]
    return blocks


class _ListFlow:
    """The patient lists laid out on pages of ``width`` × ``height`` points."""

    def __init__(self, device: QPdfWriter, blocks: list[_Block], width: float, height: float):
        self.width = width
        self.height = height
        self.fonts = {
            kind: self._font(kind)
            for kind in ("title", "warning", "text", "heading", "subheading", "header", "row")
        }
        self.metrics = {kind: QFontMetricsF(font, device) for kind, font in self.fonts.items()}
        self.pages: list[list[tuple[float, _Block]]] = self._paginate(
            [replace(b, height=self._measure(b)) for b in blocks]
        )

    @staticmethod
    def _font(kind: str) -> QFont:
        font = QFont("DejaVu Sans")
        font.setPointSizeF({"title": 13, "heading": 10.5}.get(kind, 8.5))
        font.setBold(kind in ("title", "warning", "heading", "subheading", "header"))
        return font

    def _columns(self) -> list[tuple[float, float]]:
        out, x = [], 0.0
        for share in LIST_COLUMNS:
            out.append((x, self.width * share))
            x += self.width * share
        return out

    def _text_height(self, kind: str, text: str, width: float) -> float:
        metrics = self.metrics[kind]
        if metrics.horizontalAdvance(text) <= width:
            return metrics.height()  # one line: most cells, and far quicker than a layout
        return metrics.boundingRect(QRectF(0, 0, width, 1e6), _WRAP, text).height()

    def _measure(self, block: _Block) -> float:
        if block.kind in ("header", "row"):
            return (
                max(
                    self._text_height(block.kind, text, w - 2 * PAD)
                    for text, (_x, w) in zip(block.cells, self._columns(), strict=True)
                )
                + 2 * PAD
            )
        space = {"title": 8.0, "heading": 14.0, "subheading": 9.0, "warning": 6.0, "text": 4.0}
        return self._text_height(block.kind, block.cells[0], self.width) + space[block.kind]

    def _paginate(self, blocks: list[_Block]) -> list[list[tuple[float, _Block]]]:
        pages: list[list[tuple[float, _Block]]] = [[]]
        y = 0.0
        header: _Block | None = None
        heading = subheading = ""
        for i, block in enumerate(blocks):
            if block.kind == "header":
                header = block
            elif block.kind not in ("row",):
                header = None
            if block.kind == "heading":
                heading = block.cells[0]
            elif block.kind == "subheading":
                subheading = block.cells[0].split(" (")[0]
            need = block.height
            if block.kind in ("heading", "subheading", "header"):
                # Never a heading or a table header alone at the foot of a page.
                following = blocks[i + 1 : i + 3]
                need += sum(b.height for b in following if b.kind != "heading")
            if y + need > self.height and pages[-1]:
                pages.append([])
                y = 0.0
                if block.kind == "row" and header is not None:
                    # Which list goes on, and the table's header again.
                    more = _Block("subheading", (f"{heading}: {subheading.lower()} (continued)",))
                    more = replace(more, height=self._measure(more))
                    pages[-1] += [(0.0, more), (more.height, header)]
                    y = more.height + header.height
            pages[-1].append((y, block))
            y += block.height
        return pages

    def draw(self, painter: QPainter, page: int, top: float) -> None:
        columns = self._columns()
        grid, ink, shade = QColor("#9aa0a6"), QColor("#111111"), QColor("#e4e7ec")
        for y, block in self.pages[page]:
            painter.setFont(self.fonts[block.kind])
            if block.kind in ("header", "row"):
                metrics = self.metrics[block.kind]
                one_line = block.height <= metrics.height() + 2 * PAD + 0.01
                for text, (x, w) in zip(block.cells, columns, strict=True):
                    cell = QRectF(x, top + y, w, block.height)
                    if block.kind == "header":
                        painter.fillRect(cell, shade)
                    painter.setPen(grid)
                    painter.drawRect(cell)
                    painter.setPen(ink)
                    if one_line:
                        painter.drawText(QPointF(x + PAD, top + y + PAD + metrics.ascent()), text)
                    else:
                        painter.drawText(cell.adjusted(PAD, PAD, -PAD, -PAD), _WRAP, text)
                continue
            colour = WARNING_COLOUR if block.kind == "warning" else "#111111"
            painter.setPen(QColor(colour))
            space = block.height - self._text_height(block.kind, block.cells[0], self.width)
            # Headings keep their space above them; the others below.
            offset = space if block.kind in ("heading", "subheading") else 0.0
            painter.drawText(
                QRectF(0, top + y + offset, self.width, block.height - space),
                _WRAP,
                block.cells[0],
            )


# -- laying out and drawing ----------------------------------------------------------------------


class _Pages:
    """Draws the report page by page on one painter; knows the page count before drawing so
    every footer can say "page i of n"."""

    def __init__(
        self, writer: QPdfWriter, content: ReportContent, charts: dict[int, QPicture]
    ) -> None:
        self.writer = writer
        self.content = content
        self.charts = charts
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
            flow = _ListFlow(self.writer, _list_blocks(c), self.body.width(), self.body.height())
            sections.append(("lists", flow))
        for kind, what in sections:
            if kind == "text":
                assert isinstance(what, QTextDocument)
                # The cover is one page whatever the text: it is short by design.
                count = 1 if not pages else what.pageCount()
                pages += [(kind, what, i) for i in range(count)]
            elif kind == "lists":
                assert isinstance(what, _ListFlow)
                pages += [(kind, what, i) for i in range(len(what.pages))]
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
                elif kind == "lists":
                    assert isinstance(what, _ListFlow)
                    what.draw(painter, page, self.top)
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
        slot = chart_slot(self.content.identifiers)
        for i, number in enumerate(numbers):
            target = QRectF(
                0, self.top + i * (slot.height() + CHART_GAP), slot.width(), slot.height()
            )
            picture = self.charts[number]
            painter.save()
            painter.translate(target.topLeft())
            # Recorded at screen size (96 dots an inch); drawPicture scales it to this device,
            # so it fills the slot with its fonts at the point sizes the screen shows.
            painter.drawPicture(0, 0, picture)
            painter.restore()
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


def page_layout() -> QPageLayout:
    return QPageLayout(
        QPageSize(QPageSize.PageSizeId.A4),
        QPageLayout.Orientation.Portrait,
        QMarginsF(MARGIN, MARGIN, MARGIN, MARGIN),
        QPageLayout.Unit.Point,
    )


def chart_slot(identifiers: bool) -> QSizeF:
    """The size in points of one chart on a page of charts."""
    rect = page_layout().paintRectPoints()
    body = rect.height() - FOOTER - (HEADER if identifiers else 0.0)
    return QSizeF(rect.width(), (body - CHART_GAP * (CHARTS_PER_PAGE - 1)) / CHARTS_PER_PAGE)


def chart_pictures(content: ReportContent) -> dict[int, QPicture]:
    """Every KPI's run chart recorded as vector drawing commands. On the GUI thread (QtCharts
    is made of graphics items); the writing, which replays them, can then run off it."""
    d = content.data
    slot = chart_slot(content.identifiers)
    size = QSizeF(slot.width() * SCREEN_DPI / DPI, slot.height() * SCREEN_DPI / DPI)
    pictures: dict[int, QPicture] = {}
    for result in d.report.results:
        chart = build_chart(
            result,
            d.report.monthly.get(result.number, []),
            d.definition(result.number),
            d.kpis.national.year,
        )
        view = QChartView(chart)
        view.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        view.resize(int(size.width()), int(size.height()))
        chart.resize(size)
        picture = QPicture()
        painter = QPainter(picture)
        area = QRectF(0, 0, size.width(), size.height())
        view.scene().render(painter, area, area)
        painter.end()
        pictures[result.number] = picture
        view.deleteLater()
    return pictures


def write_report(
    target: Path | str, content: ReportContent, charts: dict[int, QPicture] | None = None
) -> int:
    """Write the report to ``target`` (a path ``files.private_path`` gave); the page count.
    With ``charts`` from ``chart_pictures`` it touches no widget and may run off the GUI
    thread (QPdfWriter, QPainter and QTextDocument are reentrant)."""
    if charts is None:
        charts = chart_pictures(content)
    writer = QPdfWriter(str(target))
    writer.setResolution(DPI)
    writer.setPageLayout(page_layout())
    writer.setTitle(f"Local KPI report {content.data.year}")
    writer.setCreator(f"flsdesk {__version__}")
    pages = _Pages(writer, content, charts).draw()
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


def save_report(
    parent: QWidget,
    store: Store,
    data: kd.DashboardData,
    on_saved: Callable[[str, int], None],
) -> BackgroundOp | None:
    """The "Save report as PDF" flow from the dashboard: options, file name, then the writing
    as a BackgroundOp (returned; None when the person cancelled). ``on_saved(path, pages)``
    once the file is in place; a failure is told in a message box, and nothing is written."""
    dialog = ReportOptionsDialog(data.year, parent)
    accepted = _ask(dialog)
    with_lists = dialog.include_lists.isChecked()
    dialog.deleteLater()
    if not accepted:
        return None
    target = ask_save_path(
        parent,
        "Save the KPI report as PDF",
        f"fls-kpi-report-{data.year}.pdf",
        "PDF files (*.pdf)",
        store.paths,
    )
    if target is None:
        return None
    service = str(store.get_setting(SERVICE_NAME, "") or "").strip()
    org = str(store.get_setting(ORG_CODE, "") or "").strip()
    lists = None
    if with_lists:
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
    content = ReportContent(service, org, store.today(), data, lists)
    charts = chart_pictures(content)  # QtCharts: on the GUI thread, before the job

    def job(_progress: ProgressFn, _cancelled: CancelFn) -> int:
        # A big service's lists run to hundreds of pages: written off the GUI thread.
        with files.private_path(target, paths=store.paths) as tmp:
            return write_report(tmp, content, charts)

    def saved(pages: int) -> None:
        log.info(
            "KPI report saved as PDF: %d page(s), patient lists %s",
            pages,
            "included" if content.identifiers else "left out",
        )
        on_saved(str(target), pages)

    def failed(error: OpFailed) -> None:
        QMessageBox.warning(
            parent,
            "Save report as PDF",
            f"Cannot write {target}: {error.message} Nothing was saved.",
        )

    op = BackgroundOp(
        job,
        name="KPI report",
        unexpected_message="The report could not be written; see the log.",
    )
    op.succeeded.connect(saved)
    op.failed.connect(failed)
    return op.start()
