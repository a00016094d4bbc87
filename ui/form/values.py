"""Typed text ↔ stored answer, for each question type (no Qt, so it is cheap to test).

The form never refuses what a person types: text that cannot be read as the type's stored form
(``docs/internal-contracts.md``) is stored exactly as typed, and the rules then report it as an
error ("Not a date: type it as dd/mm/yyyy"). Deciding what is *valid* is the rules' job; this
module only translates the screen's conventions (dd/mm/yyyy, NHS numbers in 3-3-4 groups) into
the stored ones and back.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flsdesk.dataset import parse_iso_date
from flsdesk.rules import format_number

# d/m/yyyy with / . or - between the parts, as people type dates in the UK.
_DMY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")


def date_from_text(text: str, special_answers: tuple[str, ...] = ()) -> str | None:
    """ISO ``YYYY-MM-DD`` for a real date typed as dd/mm/yyyy; a special answer by its label
    (any case); ``None`` for blank; anything else as typed (the rules make it an error)."""
    stripped = text.strip()
    if not stripped:
        return None
    for special in special_answers:
        if stripped.casefold() == special.casefold():
            return special
    match = _DMY.match(stripped)
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return stripped  # 31/02/2024: kept as typed, reported by the rules
    # Anything else, an ISO date pasted from elsewhere included, is kept as typed.
    return stripped


def date_to_text(value: Any) -> str:
    """How a stored date answer is shown: dd/mm/yyyy, or whatever odd text was kept."""
    if value is None:
        return ""
    parsed = parse_iso_date(value)
    if parsed is not None:
        return parsed.strftime("%d/%m/%Y")
    return str(value)


def nhs_from_text(text: str, special_answers: tuple[str, ...] = ()) -> str | None:
    """Digits without the spaces people type (``943 476 5919``); a special answer such as
    OVERSEAS in any case; anything else kept as typed (minus surrounding spaces)."""
    stripped = text.strip()
    if not stripped:
        return None
    for special in special_answers:
        if stripped.casefold() == special.casefold():
            return special
    compact = re.sub(r"[\s\-]", "", stripped)
    if compact.isascii() and compact.isdigit():
        return compact
    return stripped


def nhs_to_text(value: Any) -> str:
    """3-3-4, as printed on NHS cards; anything else as it is."""
    if value is None:
        return ""
    text = str(value)
    if len(text) == 10 and text.isascii() and text.isdigit():
        return f"{text[:3]} {text[3:6]} {text[6:]}"
    return text


def number_from_text(text: str) -> int | float | str | None:
    """An int when no decimals were typed, a float otherwise; blank is ``None``; text that is
    not a number is kept as typed (the rules report "must be a number")."""
    stripped = text.strip().replace("\u2212", "-")  # a typographic minus pasted from a letter
    if not stripped:
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        value = float(stripped)
    except ValueError:
        return text.strip()
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf: keep as typed
        return text.strip()
    return value


def number_to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format_number(value)


def text_from_text(text: str, multiline: bool) -> str | None:
    """Single-line text loses surrounding spaces; notes keep their layout but not trailing
    blank lines."""
    value = text.rstrip() if multiline else text.strip()
    return value or None


def range_hint(low: float | None, high: float | None, precision: int | None) -> str:
    """The plain-words hint shown beside a number question."""
    parts: list[str] = []
    if low is not None and high is not None:
        parts.append(f"{format_number(low)} to {format_number(high)}")
    elif low is not None:
        parts.append(f"at least {format_number(low)}")
    elif high is not None:
        parts.append(f"at most {format_number(high)}")
    if precision == 0:
        parts.append("whole number")
    elif precision:
        parts.append(f"up to {precision} decimal place{'s' if precision > 1 else ''}")
    return ", ".join(parts)
