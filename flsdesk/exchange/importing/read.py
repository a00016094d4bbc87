"""Reading the file: its bytes to text, the text to CSV records, the header to questions.

Everything the file format says comes from the export profile (delimiter, header aliases, the
webtool's columns to ignore); every question from the dataset definition.
"""

from __future__ import annotations

import csv
import io
import re

from flsdesk.dataset import Definition
from flsdesk.exchange.importing.model import Column, Unreadable
from flsdesk.exchange.profiles import ExportProfile

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
WINDOWS_1252 = "windows-1252"

# Beyond any real service's history (50,000 rows are ~10 MB); a bigger file is not an import.
MAX_FILE_BYTES = 256 * 1024 * 1024


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 (with or without BOM) tried strictly
    first, then Windows-1252; raises Unreadable when neither fits."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unreadable(
            "The file is saved as UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' or "
            "'CSV (Comma delimited)' and import that."
        )
    if b"\x00" in data:
        raise Unreadable("The file holds NUL bytes: it is not a CSV text file.")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode(UTF8_BOM), UTF8_BOM
        except UnicodeDecodeError:
            data = data[3:]  # a BOM in front of Windows-1252 text: the BOM is the slip
    try:
        return data.decode(UTF8), UTF8
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(WINDOWS_1252), WINDOWS_1252
    except UnicodeDecodeError:
        raise Unreadable(
            "The file is neither UTF-8 nor Windows-1252 text; save it as 'CSV UTF-8' and "
            "import that."
        ) from None


def norm(text: str) -> str:
    return " ".join(text.split()).casefold()


_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)+)(?=$|[\s_:\-])")


def match_columns(
    header: list[str], definition: Definition, profile: ExportProfile
) -> list[Column]:
    """Each header cell matched by its leading question number, else its short name, else a
    profile alias; otherwise ignored (the webtool's own columns, or unknown)."""
    exported = {q.key for q in definition.exported_questions}
    by_short = {norm(q.short_name): q.key for q in definition.exported_questions if q.short_name}
    aliases = {
        norm(text): key
        for text, key in profile.import_header_aliases.items()
        if key in definition.questions
    }
    webtool = {norm(text) for text in profile.import_ignored_columns}
    columns: list[Column] = []
    taken: set[str] = set()
    for i, raw in enumerate(header):
        text = raw.strip()
        found: tuple[str | None, str] = (None, "unknown")
        m = _NUMBER.match(text)
        if m and m.group(1) in exported:
            found = (m.group(1), "number")
        elif norm(text) in by_short:
            found = (by_short[norm(text)], "short name")
        elif norm(text) in aliases:
            found = (aliases[norm(text)], "alias")
        elif norm(text) in webtool:
            found = (None, "webtool column")
        if found[0] is not None and found[0] in taken:
            found = (None, "duplicate")
        if found[0] is not None:
            taken.add(found[0])
        columns.append(Column(i, text, found[0], found[1]))
    return columns


def header_style_of(columns: list[Column]) -> str | None:
    hows = {c.how for c in columns if not c.ignored} & {"number", "short name"}
    if hows == {"number"}:
        return "number_and_short_name"
    if hows == {"short name"}:
        return "short_name"
    return "mixed" if hows else None


def parse_csv(text: str, profile: ExportProfile) -> list[tuple[int, list[str]]]:
    """(start line, cells) for every non-blank record of the file."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=profile.delimiter,
        quotechar=profile.quote_char,
    )
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                out.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        # The csv module's message names no value (e.g. "field larger than field limit").
        raise Unreadable(
            f"The file cannot be read as CSV at line {reader.line_num}: {exc}."
        ) from None
    return out


def missing_key_columns(columns: list[Column], definition: Definition) -> str | None:
    present = {c.question for c in columns if not c.ignored}
    missing = [k for k in definition.keys.primary if k not in present]
    if not missing:
        return None
    names = ", ".join(
        f"{k} {definition.questions[k].short_name or definition.questions[k].label}"
        for k in missing
    )
    return (
        f"The file has no column for {names}: records cannot be matched without "
        f"{'it' if len(missing) == 1 else 'them'}. Is this an FLS-DB import file?"
    )
