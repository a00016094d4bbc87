"""Import: reading an FLS-DB import CSV (or a webtool export) back into the store.

Spec section 7, "Reading files back". Two steps, so that nothing is written before a person has
seen what would happen:

``read_plan`` reads the file and the store and returns an ``ImportPlan``: per row of the file,
new / updated (with the questions that change) / unchanged / rejected (line, column, reason,
quoting the bad value), with the warnings, and the columns that were ignored. It writes nothing;
a dry run is ``read_plan`` alone.

``apply`` writes a plan in ONE transaction: every valid row or, by default, nothing at all when a
row is rejected (``skip_invalid=True`` applies the valid rows). A plan made before someone else
changed the store is refused rather than applied over their change.

Everything the file format says comes from the export profile (delimiter, date format, multi
joiner, header and answer aliases, the webtool's columns to ignore); every question, answer,
type and key from the dataset definition; what is an error from the rules (``flsdesk.rules``).

Privacy: ``ImportPlan`` holds patient data for the screen and the terminal. The log gets counts
and line numbers only, and no exception raised here carries a value from the file.

This module is the import's public face; the work is done in ``flsdesk.exchange.importing``
(``read``, ``cells``, ``snapshot``, ``plan``, ``apply``, ``report``), one job per module.
"""

from __future__ import annotations

from flsdesk.exchange.importing.apply import apply, audit_reason
from flsdesk.exchange.importing.model import (
    NEW,
    OUTCOMES,
    REJECTED,
    UNCHANGED,
    UPDATED,
    CancelFn,
    Column,
    ImportCancelled,
    ImportFailed,
    ImportPlan,
    ImportResult,
    Problem,
    ProgressFn,
    RowResult,
    RowsRejected,
    StoreChanged,
    Unreadable,
)
from flsdesk.exchange.importing.plan import plan_bytes, read_plan
from flsdesk.exchange.importing.read import (
    MAX_FILE_BYTES,
    UTF8,
    UTF8_BOM,
    WINDOWS_1252,
    decode,
    match_columns,
)
from flsdesk.exchange.importing.report import (
    HEADER_STYLE_WORDS,
    day_text,
    report_lines,
    row_summary,
)

__all__ = [
    "HEADER_STYLE_WORDS",
    "MAX_FILE_BYTES",
    "NEW",
    "OUTCOMES",
    "REJECTED",
    "UNCHANGED",
    "UPDATED",
    "UTF8",
    "UTF8_BOM",
    "WINDOWS_1252",
    "CancelFn",
    "Column",
    "ImportCancelled",
    "ImportFailed",
    "ImportPlan",
    "ImportResult",
    "Problem",
    "ProgressFn",
    "RowResult",
    "RowsRejected",
    "StoreChanged",
    "Unreadable",
    "apply",
    "audit_reason",
    "day_text",
    "decode",
    "match_columns",
    "plan_bytes",
    "read_plan",
    "report_lines",
    "row_summary",
]
