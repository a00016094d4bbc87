"""Files meant to be opened in a spreadsheet: no cell may run as a formula.

A cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab or line break, which some programs
skip before looking for one) is taken by Excel and LibreOffice as a formula: a patient name such
as ``=HYPERLINK(...)`` typed into a record would run on the computer of whoever opens the call
sheet. Such a cell gets a leading apostrophe, which the spreadsheet shows as text.

Every file written for people to open in a spreadsheet (call sheets, reports, opt-out lists)
goes through here. The FLS-DB import CSV does NOT: the webtool needs its values raw (a T-score
of ``-2.7`` must stay a number), and it is read by the webtool, not a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> str:
    """``value`` as spreadsheet text that cannot run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """A CSV (CRLF line ends, as spreadsheets expect) with every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()


__all__ = ["FORMULA_STARTS", "csv_text", "safe_cell"]
