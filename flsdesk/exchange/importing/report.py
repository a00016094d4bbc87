"""The plan in words, for the terminal (the window shows the same plan in a table)."""

from __future__ import annotations

from flsdesk.answers import date_for_people
from flsdesk.dataset import parse_iso_date
from flsdesk.exchange.importing.model import (
    NEW,
    REJECTED,
    UNCHANGED,
    UPDATED,
    ImportPlan,
    RowResult,
)

HEADER_STYLE_WORDS = {
    "number_and_short_name": "number and short name",
    "short_name": "short name only",
    "mixed": "mixed",
}


def day_text(iso: str | None) -> str:
    return date_for_people(parse_iso_date(iso)) or "-"


def row_summary(r: RowResult) -> str:
    """One row's outcome in a sentence (the table's "details" column uses it too)."""
    who = f"NHS {r.nhs_number or '-'}, diagnosed {day_text(r.diagnosed)}"
    if r.outcome == NEW:
        return f"new record ({who})"
    if r.outcome == UPDATED:
        return f"record {r.record_id} ({who}): {', '.join(r.changed)} changed"
    if r.outcome == UNCHANGED:
        return f"record {r.record_id} ({who}): unchanged"
    return "; ".join(p.describe().split(": ", 1)[-1] for p in r.problems) or "rejected"


def report_lines(plan: ImportPlan) -> list[str]:
    if plan.unreadable:
        return [f"{plan.file_name}: {plan.unreadable}"]
    counts = plan.counts
    style = HEADER_STYLE_WORDS.get(plan.header_style or "", "-")
    lines = [f"Import of {plan.file_name} (read as {plan.encoding}; header: {style})"]
    rejected = plan.of(REJECTED)
    if rejected:
        lines.append("")
        lines.append(f"Rejected ({len(rejected)}):")
        for r in rejected:
            for p in r.problems:
                lines.append(f"  {p.describe()}")
    for outcome, title in ((UPDATED, "Updated"), (NEW, "New"), (UNCHANGED, "Unchanged")):
        rows = plan.of(outcome)
        if rows:
            lines.append("")
            lines.append(f"{title} ({len(rows)}):")
            lines.extend(f"  line {r.line}: {row_summary(r)}" for r in rows)
    warned = [(r, w) for r in plan.rows for w in r.warnings]
    if warned:
        lines.append("")
        lines.append(f"Warnings ({len(warned)}; they never block the import):")
        lines.extend(f"  {w.describe()}" for _, w in warned)
    ignored = plan.ignored_columns
    if ignored:
        lines.append("")
        lines.append(f"Ignored columns ({len(ignored)}):")
        lines.extend(f'  column {c.index + 1} "{c.header}": {c.reason}' for c in ignored)
    lines.append("")
    lines.append(
        f"{counts[NEW]} new, {counts[UPDATED]} updated, {counts[UNCHANGED]} unchanged, "
        f"{counts[REJECTED]} rejected; {len(ignored)} column(s) ignored."
    )
    return lines
