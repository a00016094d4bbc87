"""How flsdesk shows things to people: dates as dd/mm/yyyy in local time, questions by number
and label, answers as the form shows them, and what in the definitions is provisional.

Every window that shows a date or a question to a clinician goes through here, so that the
audit trail, the duplicates view and the rest say it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flsdesk.answers import (
    DATE_FORMAT,
    MOMENT_FORMAT,
    QuestionType,
    date_for_people,
    moment_for_people,
)
from flsdesk.answers import (
    answer_for_people as _answer_text,
)
from flsdesk.dataset import Definition

# The one date-for-people lives in flsdesk.answers; kept importable from here for the windows.
__all__ = ["DATE_FORMAT", "MOMENT_FORMAT", "date_for_people", "moment_for_people"]


def question_label(definition: Definition | None, key: str | None) -> str:
    """ "1.09 Date the index fracture was diagnosed"; a local-only field by its label alone;
    a key the definition does not know (a question since removed) as the key."""
    if not key:
        return ""
    question = definition.questions.get(key) if definition is not None else None
    if question is None:
        return key
    return f"{question.number} {question.label}" if question.number else question.label


def answer_for_people(definition: Definition | None, key: str | None, value: Any) -> str:
    """An answer as a person reads it: dates of date questions as dd/mm/yyyy, several
    answers joined with "; "."""
    if value is None:
        return ""
    question = definition.questions.get(key) if definition is not None and key else None
    if isinstance(value, list):
        return "; ".join(answer_for_people(definition, key, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(
            f"{question_label(definition, k)}: {answer_for_people(definition, k, v)}"
            for k, v in value.items()
        )
    if question is not None and question.type == QuestionType.DATE:
        return _answer_text(question, value)
    # Audit and duplicate views show other stored values exactly as kept.
    return str(value)


def provisional_notes(definitions: Iterable[Definition], profiles: Iterable[Any]) -> list[str]:
    """One line per definition or profile file that is (partly) provisional, saying what.

    ``profiles`` are loaded export or upload profiles (anything with ``name`` and
    ``provisional``); the lines are for the About box, not beside every field.
    """
    notes: list[str] = []
    for d in definitions:
        parts: list[str] = []
        provisional = [q for q in d.questions.values() if q.provisional]
        if provisional:
            kinds: dict[str, int] = {}
            for q in provisional:
                for kind in q.provisional:
                    kinds[kind] = kinds.get(kind, 0) + 1
            counted = ", ".join(f"the {kind} of {n}" for kind, n in sorted(kinds.items()))
            parts.append(
                f"{len(provisional)} of its {len(d.questions)} questions in part: {counted}"
            )
        if d.provisional_applies_from:
            parts.append(f"the date it applies from ({date_for_people(d.applies_from)})")
        if d.keys.provisional_fallback:
            parts.append("how a record is matched when the NHS number is missing")
        if parts:
            notes.append(f"{d.name} {d.version}: " + "; ".join(parts) + ".")
    for p in profiles:
        if getattr(p, "provisional", False):
            notes.append(f"{p.name}: the whole format.")
    return notes
