"""The KPI report, the "missed" list and the completeness table as rows of text: one wording for
the command line, its CSV files and the window's tables."""

from __future__ import annotations

from collections.abc import Sequence

from flsdesk import spreadsheet
from flsdesk.answers import date_for_people, format_number, nhs_for_people
from flsdesk.kpi.completeness import Gap
from flsdesk.kpi.engine import KpiReport, KpiResult, Missed, NotYetDue

KPI_COLUMNS: tuple[str, ...] = (
    "KPI",
    "Name",
    "Numerator",
    "Denominator",
    "Percentage",
    "Band",
    "Not yet due",
)
KPI_TABLE_COLUMNS: tuple[str, ...] = (
    "KPI",
    "Name",
    "Value",
    "Num/Den",
    "Not yet due",
    "Band",
    "Target",
    "National",
)
MISSED_COLUMNS: tuple[str, ...] = ("Record", "NHS number", "Fracture date", "What is missing")
NOT_YET_DUE_COLUMNS: tuple[str, ...] = ("Record", "NHS number", "Fracture date", "Counts from")
GAP_COLUMNS: tuple[str, ...] = ("Question", "Label", "Lacking", "Applies to", "Share lacking")


def percent_text(value: float | None) -> str:
    """ "73.7 %"; "no data" for an empty denominator."""
    return "no data" if value is None else f"{format_number(value, 1)} %"


def value_text(r: KpiResult) -> str:
    """What the KPI table shows as the value: a percentage, or KPI 1's weak-field count."""
    if r.weak_fields or (r.percent is None and r.band is not None):
        return f"{r.numerator} weak field{'' if r.numerator == 1 else 's'}"
    return percent_text(r.percent)


def kpi_csv_rows(report: KpiReport) -> list[list[str]]:
    """The CLI's CSV: one row per KPI, the KPI number first (spec/cli.md)."""
    rows = [list(KPI_COLUMNS)]
    for r in report.results:
        percent = "" if r.percent is None else format_number(r.percent, 1)
        rows.append(
            [
                str(r.number),
                r.name,
                str(r.numerator),
                str(r.denominator),
                percent,
                r.band or "no data",
                str(r.not_yet_due),
            ]
        )
    return rows


def kpi_table_rows(report: KpiReport) -> list[list[str]]:
    rows = [list(KPI_TABLE_COLUMNS)]
    for r in report.results:
        rows.append(
            [
                str(r.number),
                r.name + (" [P]" if r.provisional else ""),
                value_text(r),
                f"{r.numerator}/{r.denominator}",
                str(r.not_yet_due),
                r.band_words,
                "" if r.target is None else f"{format_number(r.target)} %",
                "" if r.national is None else f"{format_number(r.national)} %",
            ]
        )
    return rows


def missed_rows(items: Sequence[Missed]) -> list[list[str]]:
    rows = [list(MISSED_COLUMNS)]
    for m in items:
        rows.append(
            [
                str(m.record_id),
                nhs_for_people(m.nhs_number),
                date_for_people(m.diagnosed),
                m.what_is_missing,
            ]
        )
    return rows


def not_yet_due_rows(items: Sequence[NotYetDue]) -> list[list[str]]:
    rows = [list(NOT_YET_DUE_COLUMNS)]
    for n in items:
        rows.append(
            [
                str(n.record_id),
                nhs_for_people(n.nhs_number),
                date_for_people(n.diagnosed),
                date_for_people(n.due_on),
            ]
        )
    return rows


def gap_rows(gaps: Sequence[Gap]) -> list[list[str]]:
    rows = [list(GAP_COLUMNS)]
    for g in gaps:
        rows.append([g.question, g.label, str(g.lacking), str(g.applicable), percent_text(g.share)])
    return rows


def plain_table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, for a terminal."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    """A spreadsheet-safe CSV (no cell read as a formula)."""
    return spreadsheet.csv_text(rows)
