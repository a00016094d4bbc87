"""Building import files for the import tests: rows as the webtool writes them.

Every patient here is invented; the NHS numbers are valid Modulus 11 numbers made for tests.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flsdesk.dataset import load_definitions, parse_iso_date
from flsdesk.rules import format_number
from tests.helpers.conftest_records import nhs_number

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
WEBTOOL_EXPORT = FIXTURES / "webtool-export-windows-1252.csv"

DEFINITION = load_definitions().latest
NHS_A = nhs_number(401023213)
NHS_B = nhs_number(943476591)
NHS_C = nhs_number(654123789)


def unique_nhs_numbers(n: int, start: int = 500000000) -> list[str]:
    """``n`` different valid NHS numbers (``nhs_number`` skips bodies, so spacing alone is not
    enough to keep them apart)."""
    out: list[str] = []
    seen: set[str] = set()
    body = start
    while len(out) < n:
        number = nhs_number(body)
        body = int(number[:9]) + 1
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def header(style: str = "number_and_short_name") -> list[str]:
    qs = DEFINITION.exported_questions
    if style == "short_name":
        return [str(q.short_name) for q in qs]
    return [f"{q.key} {q.short_name}" for q in qs]


def base_row(nhs: str = NHS_A, diagnosed: str = "10/01/2024", **cells: str) -> dict[str, str]:
    """A plausible, valid row (lite-complete as of the tests' TODAY), cells as text."""
    row = {
        "1.01": nhs,
        "1.02": "04/03/1950",
        "1.03": "Female",
        "1.05": "No",
        "1.06": "15/01/2024",
        "1.07": "30/01/2024",
        "1.08": "No",
        "1.09": diagnosed,
        "1.11": "Wrist",
        "3.01": "Not ordered",
        "4.01": "Alendronate",
        "5.01": "Not assessed",
        "6.01": "No",
        "7.01": "No",
    }
    row.update({k.replace("_", "."): v for k, v in cells.items()})
    return row


def cells_from_answers(answers: Mapping[str, Any]) -> dict[str, str]:
    """Stored answers as the webtool's cells (dd/mm/yyyy, labels joined by ';')."""
    out: dict[str, str] = {}
    for key, value in answers.items():
        q = DEFINITION.questions.get(key)
        if q is None or q.local:
            continue
        if isinstance(value, list):
            order = {a.label: i for i, a in enumerate(q.answers)}
            out[key] = ";".join(sorted(value, key=lambda v: order.get(v, 99)))
        elif q.type == "date" and parse_iso_date(value):
            out[key] = parse_iso_date(value).strftime("%d/%m/%Y")  # type: ignore[union-attr]
        elif q.type == "number":
            out[key] = format_number(value)
        else:
            out[key] = str(value)
    return out


def csv_bytes(
    rows: Sequence[Mapping[str, str]],
    style: str = "number_and_short_name",
    encoding: str = "utf-8",
    columns: Sequence[str] | None = None,
) -> bytes:
    keys = list(columns) if columns is not None else [q.key for q in DEFINITION.exported_questions]
    names = dict(zip([q.key for q in DEFINITION.exported_questions], header(style), strict=True))
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([names.get(k, k) for k in keys])
    for row in rows:
        w.writerow([row.get(k, "") for k in keys])
    return buf.getvalue().encode(encoding)


def write_csv(folder: Path, rows: Sequence[Mapping[str, str]], name: str = "in.csv", **kw) -> Path:  # type: ignore[no-untyped-def]
    path = folder / name
    path.write_bytes(csv_bytes(rows, **kw))
    return path
