"""Why a question is not asked: the one line a form shows in a hidden question's place.

The text and the case it covers are data (``hidden_note`` and ``hidden_note_when`` on the
question in the definition file), so no question is named here.
"""

from __future__ import annotations

from datetime import date

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, parse_iso_date
from flsdesk.rules import Evaluation


def hidden_notes(definition: Definition, ev: Evaluation, today: date) -> dict[str, str]:
    """Question -> note, for the hidden questions whose note applies to these answers."""
    notes: dict[str, str] = {}
    for q in definition.questions.values():
        if not q.hidden_note or ev.applies.get(q.key, True):
            continue
        if q.hidden_note_when is None or cond.holds(
            q.hidden_note_when,
            ev.effective.get,
            today,
            definition.tags_of,
            parse_iso_date,
        ):
            notes[q.key] = q.hidden_note
    return notes
