"""Typed text ↔ stored answer for the form's widgets: the translations live in
``flsdesk.answers`` (one home for every answer type); this module only keeps the names the
windows import and the hint shown beside a number question.

The form never refuses what a person types: text that cannot be read as the type's stored form
is stored exactly as typed, and the rules then report it as an error.
"""

from __future__ import annotations

from flsdesk.answers import (
    date_for_people as date_to_text,
)
from flsdesk.answers import (
    date_from_text,
    format_number,
    nhs_from_text,
    number_from_text,
    text_from_text,
)
from flsdesk.answers import (
    nhs_for_people as nhs_to_text,
)
from flsdesk.answers import (
    number_for_people as number_to_text,
)

__all__ = [
    "date_from_text",
    "date_to_text",
    "nhs_from_text",
    "nhs_to_text",
    "number_from_text",
    "number_to_text",
    "range_hint",
    "text_from_text",
]


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
