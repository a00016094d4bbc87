"""How the KPI views show a figure: the band colours (always beside the band in words, never
alone: a colour-blind reader and a black-and-white print still read the band) and the number
formats. Presentation only: the band itself comes from ``flsdesk.kpi``."""

from __future__ import annotations

from flsdesk.kpi.engine import AMBER, GREEN, RED, KpiReport, KpiResult

# Strong colours for lines and text; pale tints as cell backgrounds behind dark text.
BAND_COLOURS: dict[str | None, str] = {
    GREEN: "#1b7a2f",
    AMBER: "#b26a00",
    RED: "#b3261e",
    None: "#6b6b6b",
}
BAND_TINTS: dict[str | None, str] = {
    GREEN: "#cdebd3",
    AMBER: "#ffe3b3",
    RED: "#f8cfcc",
    None: "#ececec",
}
NATIONAL_COLOUR = "#3f51b5"
SERVICE_COLOUR = "#111111"


def percent_text(value: float | None) -> str:
    """One decimal, as the national tables print them; "no data" for an empty denominator."""
    return "no data" if value is None else f"{value:.1f} %"


def target_text(value: float | None) -> str:
    return "" if value is None else f"{value:g} %"


def value_text(result: KpiResult) -> str:
    """What the KPI table's Value column says."""
    if result.number == 1:
        n = result.numerator
        return f"{n} weak field" + ("" if n == 1 else "s")
    return percent_text(result.percent)


def kpi2_words(report: KpiReport) -> str:
    """Which records KPI 2 counts and against what (the engine's caseload sentence, which
    normally names the reading already)."""
    note = report.caseload_note.strip()
    if report.kpi2_reading and report.kpi2_reading not in note:
        return f"KPI 2 counts {report.kpi2_reading}. {note}".strip()
    return note


def fraction_text(result: KpiResult) -> str:
    """Numerator / denominator (KPI 2's denominator is a pro-rated estimate: shown rounded)."""
    if result.number == 1:
        return f"{result.numerator} of {result.denominator} questions"
    if result.number == 2:
        if result.percent is None and result.denominator == 0:
            return f"{result.numerator} / no estimate"
        return f"{result.numerator} / {result.denominator:,}"
    return f"{result.numerator} / {result.denominator}"
