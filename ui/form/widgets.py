"""One input class per question *type*; the builder picks the class from ``Question.type``.

Every input:

- gives its focusable widget the question's ``objectName`` (``q_1_11``, ``local_name``) and an
  accessible name equal to the label, so screen readers and tests find it;
- tells its ``listener`` (the window) when the person changes the answer (never when the form
  sets a value) and when they press Enter; the window saves at once then, as it does when the
  focus leaves one of the ``focus_chain()`` widgets (it watches focus changes itself: a Python
  event filter on every input would slow every paint and key press). A plain callback rather
  than a Qt signal per input keeps opening a record quick;
- never refuses what is typed: ``value()`` returns what ``ui.form.values`` makes of the text, and
  the rules judge it;
- shows a stored answer the definition no longer offers as "<answer> (no longer offered)" and
  keeps it until someone picks another.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QDate, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from flsdesk.answers import QuestionType
from flsdesk.dataset import Question, parse_iso_date
from flsdesk_ui.form import values

NO_LONGER_OFFERED = "(no longer offered)"
# Item data role holding the stored label (the shown text may carry "(no longer offered)").
VALUE_ROLE = Qt.ItemDataRole.UserRole
_STALE_TEXT = QColor("#7a7a7a")
_STALE_BASE = QColor("#eeeeee")


class InputListener(Protocol):
    def input_changed(self, key: str) -> None: ...

    def input_committed(self, key: str) -> None: ...


class QuestionInput(QWidget):
    """The common part of every input: naming, signals, the greyed "kept answer" look."""

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.question = question
        self.listener: InputListener | None = None
        self._stale = False
        self._target: QWidget = self
        self._plain_palette: QPalette | None = None

    def _changed(self) -> None:
        if self.listener is not None:
            self.listener.input_changed(self.question.key)

    def _committed(self) -> None:
        self.left()
        if self.listener is not None:
            self.listener.input_committed(self.question.key)

    # -- what subclasses provide ----------------------------------------------------------------

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show a stored answer; emits nothing (the person did not change anything)."""
        raise NotImplementedError

    # -- shared behaviour -------------------------------------------------------------------------

    @property
    def focus_target(self) -> QWidget:
        """The widget that takes the keyboard (it carries the objectName)."""
        return self._target

    def focus_chain(self) -> list[QWidget]:
        """The Tab stops of this input, in visual order."""
        return [self._target]

    def _adopt(self, target: QWidget) -> None:
        target.setObjectName(self.question.object_name)
        target.setAccessibleName(self.question.label)
        if self.question.help:
            target.setAccessibleDescription(self.question.help)
        self.setFocusProxy(target)
        self._target = target

    def left(self) -> None:
        """The person left the field (the window saves); a chance to tidy what is shown."""

    @property
    def stale(self) -> bool:
        return self._stale

    def set_stale(self, stale: bool) -> None:
        """Grey: an answer kept while its question did not apply, not yet confirmed."""
        if stale == self._stale:
            return
        self._stale = stale
        target = self._target
        if stale:
            self._plain_palette = QPalette(target.palette())
            palette = QPalette(target.palette())
            for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
                palette.setColor(role, _STALE_TEXT)
            palette.setColor(QPalette.ColorRole.Base, _STALE_BASE)
            target.setPalette(palette)
        elif self._plain_palette is not None:
            target.setPalette(self._plain_palette)

    def set_read_only(self, read_only: bool) -> None:
        self._target.setEnabled(not read_only)


class _LineInput(QuestionInput):
    """A QLineEdit-based input: a change on every keystroke, a commit on Enter."""

    field_width = 220

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.edit = QLineEdit(self)
        self.edit.setFixedWidth(self.field_width)
        # textEdited fires for the person's typing only, not for set_value.
        self.edit.textEdited.connect(self._edited)
        # Enter commits (saves) the field; it never discards anything.
        self.edit.returnPressed.connect(self._committed)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.edit)
        self._adopt(self.edit)

    def _edited(self, _text: str) -> None:
        self._changed()

    def finish_row(self) -> None:
        self._layout.addStretch(1)

    def text(self) -> str:
        return self.edit.text()


class NhsInput(_LineInput):
    field_width = 150

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.edit.setPlaceholderText("000 000 0000")
        self.finish_row()

    def value(self) -> Any:
        return self.question.codec.from_text(self.edit.text())

    def set_value(self, value: Any) -> None:
        self.edit.setText(self.question.codec.to_text(value))

    def left(self) -> None:
        # Tidy the digits into 3-3-4 groups once the person has finished with the field.
        shown = self.question.codec.to_text(self.value())
        if shown != self.edit.text():
            self.edit.setText(shown)


class _CalendarPopup(QFrame):
    """The calendar a date field opens (button, Alt+Down or F4); Enter or a click picks."""

    picked = Signal(QDate)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.calendar = QCalendarWidget(self)
        self.calendar.setObjectName("calendar_popup")
        self.calendar.setGridVisible(True)
        self.calendar.setFirstDayOfWeek(Qt.DayOfWeek.Monday)
        self.calendar.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.calendar)
        self.calendar.clicked.connect(self._pick)
        self.calendar.activated.connect(self._pick)

    def _pick(self, day: QDate) -> None:
        self.hide()
        self.picked.emit(day)

    def open_at(self, anchor: QWidget, current: QDate) -> None:
        self.calendar.setSelectedDate(current)
        self.adjustSize()
        self.move(anchor.mapToGlobal(QPoint(0, anchor.height())))
        self.show()
        self.calendar.setFocus(Qt.FocusReason.PopupFocusReason)


class DateInput(_LineInput):
    """dd/mm/yyyy typed (kept as typed if it is not a date), a calendar pop-up, and a tick box
    for each special answer (3.03's "Patient did not attend")."""

    field_width = 110

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.edit.setPlaceholderText("dd/mm/yyyy")
        self.edit.setToolTip("Type the date as dd/mm/yyyy, or press Alt+Down for a calendar.")
        self.button = QToolButton(self)
        self.button.setText("Calendar")
        self.button.setObjectName(question.object_name + "_calendar")
        self.button.setAccessibleName(f"Calendar for {question.label}")
        self.button.setToolTip("Choose the date from a calendar (Alt+Down in the field)")
        # Not a Tab stop: typing is the quick way, Alt+Down opens the calendar from the field.
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.clicked.connect(self.open_calendar)
        self._layout.addWidget(self.button)
        self.specials: dict[str, QCheckBox] = {}
        for special in question.special_answers:
            box = QCheckBox(special, self)
            box.setObjectName(question.object_name + "_special")
            box.setAccessibleName(f"{question.label}: {special}")
            box.toggled.connect(lambda on, s=special: self._special_toggled(s, on))
            self._layout.addWidget(box)
            self.specials[special] = box
        self.finish_row()
        self._popup: _CalendarPopup | None = None
        # Alt+Down (as for a combo box) or F4 in the field opens the calendar.
        opener = QAction(self.edit)
        opener.setShortcuts([QKeySequence("Alt+Down"), QKeySequence(Qt.Key.Key_F4)])
        opener.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        opener.triggered.connect(self.open_calendar)
        self.edit.addAction(opener)

    def focus_chain(self) -> list[QWidget]:
        return [self.edit, *self.specials.values()]

    def open_calendar(self) -> None:
        if self._popup is None:
            self._popup = _CalendarPopup(self)
            self._popup.picked.connect(self._picked)
        current = parse_iso_date(self.value())
        start = QDate(current.year, current.month, current.day) if current else QDate.currentDate()
        self._popup.open_at(self.edit, start)

    def _picked(self, day: QDate) -> None:
        for box in self.specials.values():
            box.setChecked(False)
        self.edit.setText(day.toString("dd/MM/yyyy"))
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._changed()
        self._committed()

    def _special_toggled(self, special: str, on: bool) -> None:
        if self.signalsBlocked():
            return
        if on:
            for other, box in self.specials.items():
                if other != special:
                    box.setChecked(False)
        self.edit.setEnabled(not any(b.isChecked() for b in self.specials.values()))
        self._changed()

    def value(self) -> Any:
        for special, box in self.specials.items():
            if box.isChecked():
                return special
        return self.question.codec.from_text(self.edit.text())

    def set_value(self, value: Any) -> None:
        self.blockSignals(True)
        try:
            special = value if value in self.specials else None
            for label, box in self.specials.items():
                box.setChecked(label == special)
            self.edit.setEnabled(special is None)
            self.edit.setText("" if special else self.question.codec.to_text(value))
        finally:
            self.blockSignals(False)

    def set_read_only(self, read_only: bool) -> None:
        super().set_read_only(read_only)
        self.button.setEnabled(not read_only)
        for box in self.specials.values():
            box.setEnabled(not read_only)


class NumberInput(_LineInput):
    """A plain field (a spin box would refuse or silently clamp what is typed); the range and
    precision are shown beside it and checked by the rules."""

    field_width = 90

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        hint = values.range_hint(question.min, question.max, question.precision)
        if hint:
            # In the help line and the tooltip, not as a placeholder: a grey "0" reads as a value.
            self.edit.setToolTip(hint.capitalize())
            self.hint = hint
        else:
            self.hint = ""
        self.finish_row()

    def value(self) -> Any:
        return self.question.codec.from_text(self.edit.text())

    def set_value(self, value: Any) -> None:
        self.edit.setText(self.question.codec.to_text(value))


class TextInput(_LineInput):
    field_width = 320

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        # No maxLength: a too-long text is kept and reported, never cut off silently.
        self.finish_row()

    def value(self) -> Any:
        return self.question.codec.from_text(self.edit.text())

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))


class MultilineInput(QuestionInput):
    """Notes: Enter starts a new line (it never discards), Tab moves on to the next field."""

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.edit = QPlainTextEdit(self)
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(self.edit.fontMetrics().lineSpacing() * 4 + 14)
        self.edit.setMinimumWidth(320)
        self.edit.textChanged.connect(self._text_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        self._setting = False
        self._adopt(self.edit)

    def _text_changed(self) -> None:
        if not self._setting:
            self._changed()

    def value(self) -> Any:
        return self.question.codec.from_text(self.edit.toPlainText())

    def set_value(self, value: Any) -> None:
        self._setting = True
        try:
            self.edit.setPlainText("" if value is None else str(value))
        finally:
            self._setting = False


class _Combo(QComboBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        # Scrolling the form over a combo box must not change an answer under the pointer.
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class SingleInput(QuestionInput):
    """A combo box; typing the first letters picks an answer (Qt's own type-ahead)."""

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.combo = _Combo(self)
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Sized once, lazily, at first show (Qt's default policy); measuring every item with
        # AdjustToContents up front would cost more than the rest of the row.
        longest = max((len(a.label) for a in question.answers), default=10)
        self.combo.setMinimumContentsLength(max(18, min(longest + 2, 40)))
        self._setting = False
        self._fill(None)
        self.combo.currentIndexChanged.connect(self._index_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addStretch(1)
        self._adopt(self.combo)

    def _fill(self, extra: str | None) -> None:
        combo = self.combo
        combo.clear()
        combo.addItem("", None)  # not answered: reachable with the keyboard to clear an answer
        for answer in self.question.answers:
            combo.addItem(answer.label, answer.label)
            if answer.provisional:
                combo.setItemData(
                    combo.count() - 1,
                    "Provisional answer: the official dataset may word it differently.",
                    Qt.ItemDataRole.ToolTipRole,
                )
        if extra is not None:
            combo.addItem(f"{extra} {NO_LONGER_OFFERED}", extra)

    def _index_changed(self, _index: int) -> None:
        if not self._setting:
            self._changed()

    def value(self) -> Any:
        return self.combo.currentData(VALUE_ROLE)

    def set_value(self, value: Any) -> None:
        self._setting = True
        try:
            offered = value is None or (isinstance(value, str) and self.question.answer(value))
            # Rebuild only when an unoffered answer appears or goes: cheap, and keeps it listed
            # (so it can be picked back) until the record is opened again.
            extra = None if offered else str(value)
            has_extra = self.combo.count() > len(self.question.answers) + 1
            if extra is not None or has_extra:
                self._fill(extra)
            index = self.combo.findData(value if extra is None else extra, VALUE_ROLE)
            self.combo.setCurrentIndex(max(index, 0))
        finally:
            self._setting = False


class MultiInput(QuestionInput):
    """A check list: arrows move, Space ticks. Exclusive answers (4.01's "Inappropriate"…)
    untick everything else, and ticking anything else unticks them."""

    def __init__(self, question: Question, parent: QWidget | None = None) -> None:
        super().__init__(question, parent)
        self.list = QListWidget(self)
        # No selection highlight: a blue row reads as "chosen". The current row still shows a
        # focus frame for the keyboard, and the tick boxes say what is chosen.
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.list.setSpacing(1)
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setMinimumWidth(320)
        self._setting = False
        self._exclusive = {a.label for a in question.answers if a.exclusive}
        self._fill([])
        self.list.itemChanged.connect(self._item_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addStretch(1)
        self._adopt(self.list)

    def _add(self, label: str, shown: str, tooltip: str = "") -> QListWidgetItem:
        item = QListWidgetItem(shown, self.list)
        item.setData(VALUE_ROLE, label)
        item.setFlags(
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsUserCheckable
            | Qt.ItemFlag.ItemIsSelectable
        )
        item.setCheckState(Qt.CheckState.Unchecked)
        if tooltip:
            item.setToolTip(tooltip)
        return item

    def _fill(self, extras: list[str]) -> None:
        self.list.clear()
        for answer in self.question.answers:
            tip = (
                "Chosen on its own: cannot be combined with other answers."
                if answer.exclusive
                else ""
            )
            if answer.provisional:
                tip = (tip + " Provisional answer.").strip()
            item = self._add(answer.label, answer.label, tip)
            if answer.exclusive:  # set apart: these stand alone
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
        for extra in extras:
            self._add(extra, f"{extra} {NO_LONGER_OFFERED}")
        rows = self.list.count()
        row_height = self.list.sizeHintForRow(0) if rows else 20
        step = row_height + 2 * self.list.spacing()
        self.list.setFixedHeight(step * rows + 2 * self.list.frameWidth() + 4)
        if rows:
            self.list.setCurrentRow(0)

    def _items(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._setting:
            return
        self._setting = True
        try:
            if item.checkState() == Qt.CheckState.Checked:
                label = item.data(VALUE_ROLE)
                for other in self._items():
                    if other is item or other.checkState() != Qt.CheckState.Checked:
                        continue
                    other_label = other.data(VALUE_ROLE)
                    if label in self._exclusive or other_label in self._exclusive:
                        other.setCheckState(Qt.CheckState.Unchecked)
        finally:
            self._setting = False
        self._changed()

    def value(self) -> Any:
        chosen = [
            item.data(VALUE_ROLE)
            for item in self._items()
            if item.checkState() == Qt.CheckState.Checked
        ]
        return chosen or None

    def set_value(self, value: Any) -> None:
        chosen = value if isinstance(value, list) else [] if value is None else [value]
        chosen = [str(v) for v in chosen]
        extras = [v for v in chosen if self.question.answer(v) is None]
        self._setting = True
        try:
            listed = {item.data(VALUE_ROLE) for item in self._items()}
            if any(e not in listed for e in extras):
                self._fill(extras)
            for item in self._items():
                checked = item.data(VALUE_ROLE) in chosen
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        finally:
            self._setting = False


def input_for(question: Question, parent: QWidget | None = None) -> QuestionInput:
    """The input class for a question's type (the one place that maps types to widgets)."""
    if question.type == QuestionType.NHS:
        return NhsInput(question, parent)
    if question.type == QuestionType.DATE:
        return DateInput(question, parent)
    if question.type == QuestionType.NUMBER:
        return NumberInput(question, parent)
    if question.type == QuestionType.SINGLE:
        return SingleInput(question, parent)
    if question.type == QuestionType.MULTI:
        return MultiInput(question, parent)
    if question.multiline:
        return MultilineInput(question, parent)
    return TextInput(question, parent)
