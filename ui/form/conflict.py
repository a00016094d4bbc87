"""The choice shown when someone else saved the same answers of a record meanwhile.

The store has already merged everything changed on one side only; what reaches this dialog are
the questions changed on both sides to different values. Nothing of those is written until the
person chooses, per question, to keep their own answer or take the other one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from flsdesk.answers import answer_for_people, moment_for_people
from flsdesk.dataset import Definition
from flsdesk.rules import is_answered
from flsdesk.store.records import Conflict

MINE, THEIRS = "mine", "theirs"


def shown(definition: Definition, key: str, value: Any) -> str:
    """An answer as the form shows it (dd/mm/yyyy, NHS number in groups, labels)."""
    if not is_answered(value):
        return "(no answer)"
    return answer_for_people(definition.questions.get(key), value)


def when_text(moment: datetime | None) -> str:
    """A stored (naive UTC) moment in local time, as dd/mm/yyyy HH:MM."""
    if moment is None:
        return "at a time not recorded"
    return moment_for_people(moment.replace(tzinfo=UTC))


class ConflictDialog(QDialog):
    """One group per question: "Keep mine" or "Take theirs"; OK once every question is decided.

    Closing without choosing keeps theirs: the stored answers are left as they are.
    """

    def __init__(
        self, definition: Definition, conflicts: Sequence[Conflict], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conflict_dialog")
        self.setWindowTitle("Changed by someone else meanwhile")
        self._groups: dict[str, QButtonGroup] = {}
        layout = QVBoxLayout(self)
        intro = QLabel(
            "While you were editing this record, someone else saved it. Their other changes "
            "have been added to your form. These answers were changed both here and there: "
            "choose which to keep. Nothing of them is saved until you choose."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        for c in conflicts:
            question = definition.questions.get(c.question)
            label = question.label if question is not None else c.question
            number = "" if question is None or question.local else f"{c.question}  "
            box = QGroupBox(f"{number}{label}", self)
            box_layout = QVBoxLayout(box)
            who = c.changed_by or "someone"
            theirs = QRadioButton(
                f"Take theirs: {shown(definition, c.question, c.theirs)}"
                f"  (saved by {who}, {when_text(c.changed_at)})",
                box,
            )
            mine = QRadioButton(f"Keep mine: {shown(definition, c.question, c.mine)}", box)
            name = c.question.replace(".", "_")
            theirs.setObjectName(f"take_theirs_{name}")
            mine.setObjectName(f"keep_mine_{name}")
            group = QButtonGroup(box)
            group.addButton(mine)
            group.addButton(theirs)
            group.buttonToggled.connect(self._update)
            mine.setProperty("choice", MINE)
            theirs.setProperty("choice", THEIRS)
            box_layout.addWidget(theirs)
            box_layout.addWidget(mine)
            layout.addWidget(box)
            self._groups[c.question] = group
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok, self)
        self.buttons.accepted.connect(self.accept)
        layout.addWidget(self.buttons)
        self._update()

    def _update(self, *_args: object) -> None:
        ready = all(g.checkedButton() is not None for g in self._groups.values())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)

    def choices(self) -> dict[str, str]:
        """Question -> MINE or THEIRS; THEIRS for every question when the dialog was closed."""
        accepted = self.result() == QDialog.DialogCode.Accepted
        out = {}
        for key, group in self._groups.items():
            button = group.checkedButton()
            out[key] = str(button.property("choice")) if accepted and button else THEIRS
        return out
