"""The record window's side panel: what is missing for a complete record and what to correct
or check; a click goes to the question (or opens the other record of a duplicate)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from flsdesk.rules import Evaluation
from flsdesk_ui.form.builder import ERROR_COLOUR, WARNING_COLOUR

# Item data roles of the lists.
_KEY_ROLE = Qt.ItemDataRole.UserRole
_RECORD_ROLE = Qt.ItemDataRole.UserRole + 1


class SidePanel(QFrame):
    question_chosen = Signal(str)
    record_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("side_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._state: tuple[Any, ...] = ()
        layout = QVBoxLayout(self)
        self.missing_title = QLabel(self)
        self.missing_title.setObjectName("missing_title")
        self.missing_title.setWordWrap(True)
        self.missing = QListWidget(self)
        self.missing.setObjectName("missing_list")
        self.missing.setAccessibleName("Missing for a complete record")
        self.missing.setWordWrap(True)
        self.missing.setSpacing(1)
        self.problems_title = QLabel(self)
        self.problems_title.setObjectName("problems_title")
        self.problems = QListWidget(self)
        self.problems.setObjectName("problems_list")
        self.problems.setAccessibleName("Errors and warnings")
        self.problems.setWordWrap(True)
        self.problems.setSpacing(2)
        for widget in (self.missing, self.problems):
            widget.itemActivated.connect(self._item_chosen)
            widget.itemClicked.connect(self._item_chosen)
        layout.addWidget(self.missing_title)
        layout.addWidget(self.missing, 3)
        layout.addWidget(self.problems_title)
        layout.addWidget(self.problems, 2)

    def reset(self) -> None:
        """Another dataset version: show the next evaluation even if its lists look the same."""
        self._state = ()

    def show_evaluation(self, evaluation: Evaluation) -> None:
        definition = evaluation.definition
        questions = definition.questions
        problems = [
            (m.question, m.severity, m.text, m.other_record)
            for bucket in (evaluation.errors, evaluation.warnings)
            for messages in bucket.values()
            for m in messages
        ]
        state = (tuple(evaluation.missing_lite), tuple(problems))
        if state == self._state:
            return
        self._state = state
        tab_labels = {t.id: t.label for t in definition.tabs}

        self.missing.clear()
        current_tab = None
        for key in evaluation.missing_lite:
            q = questions[key]
            if q.tab != current_tab:  # a heading per tab, so the list reads like the form
                current_tab = q.tab
                heading = QListWidgetItem(tab_labels.get(q.tab, q.tab))
                heading.setFlags(Qt.ItemFlag.NoItemFlags)
                font = heading.font()
                font.setBold(True)
                heading.setFont(font)
                heading.setForeground(QColor("#5f6368"))
                self.missing.addItem(heading)
            item = QListWidgetItem(f"{key}  {q.label}")
            item.setData(_KEY_ROLE, key)
            item.setToolTip("Go to this question")
            self.missing.addItem(item)
        count = len(evaluation.missing_lite)
        self.missing_title.setText(
            "<b>Missing for a complete record</b>"
            + (f" ({count})" if count else "<br>Nothing missing.")
        )

        self.problems.clear()
        errors = sum(1 for p in problems if p[1] == "error")
        for key, severity, text, other in problems:
            asked = questions.get(key)
            number = "" if asked is None or asked.local else f"{key}  "
            label = asked.label if asked is not None else key
            icon = "✖" if severity == "error" else "⚠"
            item = QListWidgetItem(f"{icon} {number}{label}\n{text}")
            item.setData(_KEY_ROLE, key)
            item.setToolTip(text)
            item.setForeground(QColor(ERROR_COLOUR if severity == "error" else WARNING_COLOUR))
            self.problems.addItem(item)
            if other is not None:
                link = QListWidgetItem(f"    → Open record {other}")
                link.setData(_RECORD_ROLE, other)
                link.setToolTip(f"Open record {other} in its own window")
                self.problems.addItem(link)
        warnings = len(problems) - errors
        if problems:
            summary = f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
            self.problems_title.setText(f"<b>To correct or check</b> ({summary})")
        else:
            self.problems_title.setText("<b>To correct or check</b><br>No errors or warnings.")

    def _item_chosen(self, item: QListWidgetItem) -> None:
        other = item.data(_RECORD_ROLE)
        if other is not None:
            self.record_chosen.emit(int(other))
            return
        key = item.data(_KEY_ROLE)
        if key is not None:
            self.question_chosen.emit(str(key))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
