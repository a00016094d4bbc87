"""What ending follow-up implies, as the definition's ``[followup_end]`` says.

Ending follow-up for a reason (died, moved away…) means no follow-up will happen; the definition
says which follow-up questions that answers and how (FAQ 24: "No" only when no follow-up is
planned). Nothing here knows a question number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flsdesk.dataset import Definition
from flsdesk.rules import applicability


def implied_answers(
    definition: Definition, answers: Mapping[str, Any], reason: str, today: date
) -> dict[str, str]:
    """The answers ending follow-up for ``reason`` gives: only to questions that apply and are
    unanswered (an answer already given, or kept hidden, is never replaced)."""
    end = definition.followup_end.get(reason)
    if end is None:
        return {}
    current = dict(answers)
    implied: dict[str, str] = {}
    for key, label in end.answers.items():
        # Re-read applicability after each answer: one may hide or show the next.
        applies, _, effective = applicability(definition, current, today)
        if applies.get(key, False) and key not in effective:
            current[key] = label
            implied[key] = label
    return implied


def ended_text(definition: Definition, reason: str) -> str:
    """The patient list's words for an ended follow-up: "ended: moved away"."""
    end = definition.followup_end.get(reason)
    return f"ended: {end.words if end is not None else reason}"
