"""A KPI's run chart: the service's value by month of diagnosis, the KPI's own band lines (green
from, red below) and the national average, drawn with QtCharts.

The same ``QChart`` serves the dashboard (in a ``QChartView``) and the PDF report (its scene
recorded as a QPicture and replayed onto the page, so the chart stays vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QChart,
    QChartView,
    QLineSeries,
    QScatterSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from flsdesk.kpi.definitions import KpiDefinition
from flsdesk.kpi.engine import KpiResult
from flsdesk_ui.kpi.style import BAND_COLOURS, NATIONAL_COLOUR, SERVICE_COLOUR, percent_text

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_labels(months: Sequence[date]) -> list[str]:
    """ "Jan" … "Dec"; with the year ("Jan 25") when the months span more than one year."""
    one_year = len({m.year for m in months}) <= 1
    return [MONTHS[m.month - 1] + ("" if one_year else f" {m:%y}") for m in months]


def _pen(colour: str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(colour))
    pen.setWidthF(width)
    pen.setStyle(style)
    return pen


def _level_line(chart: QChart, name: str, y: float, months: int, pen: QPen) -> QLineSeries:
    """A horizontal line across the whole chart (the category axis spans -0.5 … months-0.5)."""
    line = QLineSeries()
    line.setName(name)
    line.append(QPointF(-0.5, y))
    line.append(QPointF(months - 0.5, y))
    line.setPen(pen)
    chart.addSeries(line)
    return line


def build_chart(
    result: KpiResult,
    monthly: Sequence[tuple[date, KpiResult]],
    definition: KpiDefinition | None,
    national_year: int | None = None,
    *,
    compact: bool = False,
) -> QChart:
    """The run chart of one KPI. KPI 1 (a count of weak fields, not a percentage) plots that
    count against its "good below" line; every other KPI its percentage, 0–100."""
    chart = QChart()
    chart.setObjectName(f"kpi_chart_{result.number}")
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.setBackgroundRoundness(0)
    chart.setMargins(QMargins(4, 4, 4, 4))
    title_font = QFont()
    title_font.setPointSizeF(10 if compact else 11)
    title_font.setBold(True)
    chart.setTitleFont(title_font)
    chart.setTitle(f"KPI {result.number}: {result.name}")
    months = [m for m, _ in monthly]
    values = [r for _, r in monthly]
    count = max(len(months), 1)
    is_count = result.number == 1

    def plotted(r: KpiResult) -> float | None:
        return float(r.numerator) if is_count else r.percent

    points = [(i, plotted(r)) for i, r in enumerate(values)]
    # A month with no data breaks the line: it is not a 0 %.
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in points:
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, v))
    runs = [r for r in runs if r]

    service_pen = _pen(SERVICE_COLOUR, 2.2)
    lines: list[QLineSeries] = []
    for run in runs:
        line = QLineSeries()
        line.setName("This service")
        line.setPen(service_pen)
        for i, v in run:
            line.append(QPointF(i, v))
        chart.addSeries(line)
        lines.append(line)
    dots = QScatterSeries()
    dots.setName("This service")
    dots.setMarkerSize(7.0)
    dots.setColor(QColor(SERVICE_COLOUR))
    dots.setBorderColor(QColor(SERVICE_COLOUR))
    for run in runs:
        for i, v in run:
            dots.append(QPointF(i, v))
    chart.addSeries(dots)

    levels: list[QLineSeries] = []
    if is_count:
        good_below = definition.good_below if definition is not None else 5
        levels.append(
            _level_line(
                chart,
                f"Good: fewer than {good_below}",
                good_below - 0.5,
                count,
                _pen(BAND_COLOURS["green"], 1.6, Qt.PenStyle.DashLine),
            )
        )
    elif definition is not None:
        green, red = definition.band.green_from, definition.band.red_below
        if green == red:
            levels.append(
                _level_line(
                    chart,
                    f"Green from {green:g} %, red below",
                    green,
                    count,
                    _pen(BAND_COLOURS["amber"], 1.6, Qt.PenStyle.DashLine),
                )
            )
        else:
            levels.append(
                _level_line(
                    chart,
                    f"Green from {green:g} %",
                    green,
                    count,
                    _pen(BAND_COLOURS["green"], 1.6, Qt.PenStyle.DashLine),
                )
            )
            levels.append(
                _level_line(
                    chart,
                    f"Red below {red:g} %",
                    red,
                    count,
                    _pen(BAND_COLOURS["red"], 1.6, Qt.PenStyle.DashLine),
                )
            )
    if result.national is not None and not is_count:
        when = f" ({national_year})" if national_year else ""
        levels.append(
            _level_line(
                chart,
                f"National average {percent_text(result.national)}{when}",
                result.national,
                count,
                _pen(NATIONAL_COLOUR, 1.6, Qt.PenStyle.DashDotLine),
            )
        )

    x_axis = QBarCategoryAxis()
    labels = month_labels(months) if months else [""]
    # The records behind each month under its name: a 100 % of 2 is not a 100 % of 40.
    labels = [
        f"{label}<br>n={_base(r)}" if _base(r) is not None else label
        for label, r in zip(labels, values, strict=False)
    ] or labels
    x_axis.append(labels)
    x_axis.setGridLineVisible(False)
    y_axis = QValueAxis()
    if is_count:
        top = max([5.0, *(v for _, v in points if v is not None)]) + 1
        # A little room below 0 and above the top, so a point there is not cut by the frame.
        y_axis.setRange(-0.3, top)
        y_axis.setLabelFormat("%d")
        y_axis.setTickType(QValueAxis.TickType.TicksDynamic)
        y_axis.setTickAnchor(0)
        y_axis.setTickInterval(1 if top <= (7 if compact else 12) else (2 if top <= 20 else 5))
        y_axis.setTitleText("weak fields")
    else:
        y_axis.setRange(-3, 103)
        y_axis.setTickType(QValueAxis.TickType.TicksDynamic)
        y_axis.setTickAnchor(0)
        y_axis.setTickInterval(20)
        y_axis.setLabelFormat("%d %%")
    small = QFont()
    small.setPointSizeF(7.5 if compact else 8)
    x_axis.setLabelsFont(small)
    y_axis.setLabelsFont(small)
    chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
    for series in chart.series():
        series.attachAxis(x_axis)
        series.attachAxis(y_axis)
    # Only one "This service" entry in the legend, whatever the gaps split the line into.
    legend = chart.legend()
    legend.setAlignment(Qt.AlignmentFlag.AlignBottom)
    legend.setFont(small)
    for line in lines:
        for marker in legend.markers(line):
            marker.setVisible(False)
    if not runs:
        chart.setTitle(f"KPI {result.number}: {result.name} — no data for this period")
    return chart


def _base(result: KpiResult) -> int | None:
    """How many records the month's figure rests on (KPI 1 and 2 have no per-record base)."""
    if result.number in (1, 2):
        return None
    return result.denominator


class KpiChartView(QChartView):
    """A run chart on screen."""

    def __init__(
        self, parent: QWidget | None = None, *, compact: bool = False, objectName: str = ""
    ) -> None:
        super().__init__(parent)
        self.setObjectName(objectName or "kpi_chart_view")
        self.compact = compact
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(230 if compact else 280)
        self.kpi: int | None = None

    def show_kpi(
        self,
        result: KpiResult,
        monthly: Sequence[tuple[date, KpiResult]],
        definition: KpiDefinition | None,
        national_year: int | None = None,
    ) -> None:
        old = self.chart()
        self.setChart(build_chart(result, monthly, definition, national_year, compact=self.compact))
        self.kpi = result.number
        if old is not None:
            old.deleteLater()
