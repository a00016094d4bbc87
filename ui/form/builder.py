"""The one form builder: a dataset Definition becomes tabs of question rows.

Nothing here names a question: tabs, their order, labels, help, types, provisional marks and
local-only fields all come from the definition file, so a corrected or newer file changes the
form with no code change. The rows only *show* what the rules decided (``QuestionRow.show_result``);
they never decide anything themselves.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flsdesk.dataset import Definition, Question, Tab
from flsdesk.rules import Message
from flsdesk_ui.form.widgets import (
    InputListener,
    NumberInput,
    QuestionInput,
    input_for,
)

LABEL_WIDTH = 270
ERROR_COLOUR = "#b3261e"
WARNING_COLOUR = "#8a5300"  # amber dark enough to read on white (WCAG AA)
HINT_COLOUR = "#5f6368"
LOCAL_NOTE = "stays on this computer"
LOCAL_HEADING = "Kept on this computer only — never exported"
RECORD_LINK = "record:"


def _small(label: QLabel, colour: str = HINT_COLOUR) -> QLabel:
    font = label.font()
    font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
    label.setFont(font)
    # A palette, not a style sheet: a style sheet per label costs a millisecond a row to open.
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, QColor(colour))
    label.setPalette(palette)
    return label


class FormListener(InputListener, Protocol):
    """What the rows tell the window (plain calls: cheaper than signals on 60 rows)."""

    def answer_kept(self, key: str) -> None: ...

    def record_link(self, record_id: int) -> None: ...


class QuestionRow(QWidget):
    """Label, input, help, and the rules' messages for one question."""

    def __init__(
        self,
        question: Question,
        can_hide: bool,
        listener: FormListener | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.question = question
        self.listener = listener
        self.setObjectName(f"row_{question.object_name}")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 5, 0, 5)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(3)
        grid.setColumnMinimumWidth(0, LABEL_WIDTH)
        grid.setColumnStretch(1, 1)

        number = (
            ""
            if question.local
            else f'<span style="color:{HINT_COLOUR}">{question.key}</span>&nbsp; '
        )
        self.label = QLabel(number + html.escape(question.label), self)
        self.label.setWordWrap(True)
        self.label.setFixedWidth(LABEL_WIDTH)
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.label, 0, 0, 3, 1, Qt.AlignmentFlag.AlignTop)

        self.input: QuestionInput = input_for(question, self)
        self.input.listener = listener
        self.label.setBuddy(self.input.focus_target)
        line = QHBoxLayout()
        line.setSpacing(8)
        line.addWidget(self.input, 0, Qt.AlignmentFlag.AlignTop)
        badge: QLabel | None = None
        if question.local:
            badge = QLabel(LOCAL_NOTE, self)
            badge.setObjectName(f"{question.object_name}_local")
            badge.setToolTip(
                "Never exported or uploaded: it stays in this computer's encrypted store."
            )
            badge.setStyleSheet(
                "color: #1b5e20; background: #e8f5e9; border: 1px solid #a5d6a7;"
                " border-radius: 3px; padding: 0 4px;"
            )
        line.addStretch(1)
        grid.addLayout(line, 0, 1)

        help_parts = [question.help] if question.help else []
        if isinstance(self.input, NumberInput) and self.input.hint:
            help_parts.insert(0, self.input.hint.capitalize() + ".")
        self.help: QLabel | None = None
        # The badge and the help go under the input, not beside it: the form must fit a
        # 1024-pixel clinic screen without a horizontal scrollbar (the help wraps).
        under = QHBoxLayout()
        under.setSpacing(8)
        if badge is not None:
            under.addWidget(badge, 0, Qt.AlignmentFlag.AlignTop)
        if help_parts:
            self.help = _small(QLabel(" ".join(help_parts), self))
            self.help.setWordWrap(True)
            under.addWidget(self.help, 1)
        else:
            under.addStretch(1)
        if badge is not None or help_parts:
            grid.addLayout(under, 1, 1)

        # Only questions that can be hidden can come back with a kept answer.
        self.keep_bar: QWidget | None = None
        self.keep_button: QPushButton | None = None
        if can_hide:
            self.keep_bar = QWidget(self)
            bar = QHBoxLayout(self.keep_bar)
            bar.setContentsMargins(0, 0, 0, 0)
            note = _small(
                QLabel("Kept from before, while this question did not apply: check it.", self)
            )
            self.keep_button = QPushButton("Keep this answer", self.keep_bar)
            self.keep_button.setObjectName(f"{question.object_name}_keep")
            self.keep_button.setAutoDefault(False)
            self.keep_button.clicked.connect(self._keep)
            bar.addWidget(note)
            bar.addWidget(self.keep_button)
            bar.addStretch(1)
            self.keep_bar.hide()
            grid.addWidget(self.keep_bar, 2, 1)

        self.messages = QLabel(self)
        self.messages.setObjectName(f"{question.object_name}_messages")
        self.messages.setWordWrap(True)
        self.messages.setTextFormat(Qt.TextFormat.RichText)
        # Links by mouse only: the side panel offers the same link to the keyboard, and a link
        # here would put a Tab stop out of the visual order.
        self.messages.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.messages.linkActivated.connect(self._link)
        self.messages.hide()
        grid.addWidget(self.messages, 3, 1)
        self._shown: tuple[tuple[str, str, int | None], ...] = ()
        # Why the question is not asked, shown in its place while hidden (``hidden_note``).
        self.hidden_note: QLabel | None = None

    def focus_chain(self) -> list[QWidget]:
        chain = self.input.focus_chain()
        if self.keep_button is not None:
            chain.append(self.keep_button)
        return chain

    def _keep(self) -> None:
        if self.listener is not None:
            self.listener.answer_kept(self.question.key)

    def _link(self, href: str) -> None:
        if href.startswith(RECORD_LINK) and self.listener is not None:
            self.listener.record_link(int(href.removeprefix(RECORD_LINK)))

    def show_messages(self, errors: Sequence[Message], warnings: Sequence[Message]) -> None:
        wanted = tuple((m.severity, m.text, m.other_record) for m in (*errors, *warnings))
        if wanted == self._shown:
            return  # the common case while typing: nothing to redraw
        self._shown = wanted
        if not wanted:
            self.messages.clear()
            self.messages.hide()
            self.messages.setAccessibleDescription("")
            return
        lines = []
        for severity, text, other in wanted:
            colour = ERROR_COLOUR if severity == "error" else WARNING_COLOUR
            icon = "✖" if severity == "error" else "⚠"
            link = ""
            if other is not None:
                link = f' <a href="{RECORD_LINK}{other}">Open record {other}</a>'
            lines.append(f'<div style="color:{colour}">{icon} {html.escape(text)}{link}</div>')
        self.messages.setText("".join(lines))
        self.messages.setAccessibleDescription(" ".join(t for _, t, _ in wanted))
        self.messages.show()

    def set_stale(self, stale: bool) -> None:
        self.input.set_stale(stale)
        if self.keep_bar is not None:
            self.keep_bar.setVisible(stale)


class TabPage(QScrollArea):
    """One tab: its rows in definition order, and the notice shown when the tab does not apply."""

    def __init__(self, tab: Tab, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tab = tab
        self.setObjectName(f"tab_{tab.id}")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.content = QWidget()
        self.content.setObjectName(f"tab_{tab.id}_content")
        self.layout_ = QVBoxLayout(self.content)
        self.layout_.setContentsMargins(16, 12, 16, 12)
        self.layout_.setSpacing(0)
        self.notice = QLabel(self.content)
        self.notice.setObjectName(f"tab_{tab.id}_not_applicable")
        self.notice.setWordWrap(True)
        self.notice.setText(
            f"<b>{html.escape(tab.not_applicable_label or tab.label + ' does not apply')}</b>"
            + (f"<br>{html.escape(tab.not_applicable_help)}" if tab.not_applicable_help else "")
        )
        self.notice.setStyleSheet(
            "background: #f1f3f4; border: 1px solid #dadce0; border-radius: 4px; padding: 10px;"
        )
        self.notice.hide()
        self.layout_.addWidget(self.notice)
        self.rows: list[QuestionRow] = []
        self.setWidget(self.content)
        self.applies = True
        self.built = False

    def add_row(self, row: QuestionRow) -> None:
        self.layout_.addWidget(row)
        self.rows.append(row)

    def add_heading(self, text: str) -> None:
        heading = QLabel(text, self.content)
        heading.setStyleSheet(
            "color: #1b5e20; font-weight: bold; border-top: 1px solid #c8e6c9; padding-top: 10px;"
        )
        heading.setContentsMargins(0, 12, 0, 4)
        self.layout_.addWidget(heading)

    def add_separator(self) -> None:
        line = QFrame(self.content)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: #dadce0;")
        self.layout_.addSpacing(6)
        self.layout_.addWidget(line)
        self.layout_.addSpacing(6)

    def finish(self) -> None:
        self.layout_.addStretch(1)

    def set_applies(self, applies: bool) -> None:
        if applies != self.applies:
            self.applies = applies
            self.notice.setVisible(not applies)

    def tab_text(self) -> str:
        if self.applies or not self.tab.not_applicable_label:
            return self.tab.label
        return self.tab.not_applicable_label


@dataclass
class BuiltForm:
    """The pages of a definition. A page's rows are built when first needed (``build_page``):
    the form opens with the tab the person sees, and builds the others just after."""

    definition: Definition
    listener: FormListener | None = None
    pages: dict[str, TabPage] = field(default_factory=dict)
    rows: dict[str, QuestionRow] = field(default_factory=dict)

    def unbuilt(self) -> list[str]:
        return [tab_id for tab_id, page in self.pages.items() if not page.built]

    def build_page(self, tab_id: str) -> list[QuestionRow]:
        """Build the rows of one page (once); returns the rows it made."""
        page = self.pages[tab_id]
        if page.built:
            return []
        page.built = True
        definition = self.definition
        previous: Question | None = None
        made: list[QuestionRow] = []
        # Who the patient is comes first, in Tab order too: the name and hospital number are
        # what a clinician has in hand when starting a record.
        identity = {definition.role("patient_name"), definition.role("hospital_number")}
        ordered = list(definition.questions_on(tab_id))
        ordered = [q for q in ordered if q.key in identity] + [
            q for q in ordered if q.key not in identity
        ]
        for question in ordered:
            if question.local and (previous is None or not previous.local):
                page.add_heading(LOCAL_HEADING)
            elif previous is not None and previous.local and not question.local:
                page.add_separator()
            elif (
                previous is not None
                and not question.local
                and not previous.local
                and question.key.split(".")[0] != previous.key.split(".")[0]
            ):
                page.add_separator()  # a new section of the dataset (6.xx → 7.xx)
            row = QuestionRow(
                question, _can_hide(definition, question), self.listener, page.content
            )
            page.add_row(row)
            if question.hidden_note:
                note = _small(QLabel(question.hidden_note, page.content))
                note.setObjectName(f"{question.object_name}_hidden_note")
                note.setWordWrap(True)
                note.setContentsMargins(LABEL_WIDTH + 14, 4, 0, 4)
                note.hide()
                page.layout_.addWidget(note)
                row.hidden_note = note
            self.rows[question.key] = row
            made.append(row)
            previous = question
        page.finish()
        # Tab follows the visual order; Qt skips hidden rows by itself.
        chain = [w for row in page.rows for w in row.focus_chain()]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)
        return made


def _can_hide(definition: Definition, question: Question) -> bool:
    tab = definition.tabs_by_id.get(question.tab)
    return question.applies_when is not None or (tab is not None and tab.applies_when is not None)


def build_form(
    definition: Definition, tabs: QTabWidget, listener: FormListener | None = None
) -> BuiltForm:
    """Add one (empty) page per tab of the definition to ``tabs``; ``build_page`` fills it."""
    built = BuiltForm(definition, listener)
    for tab in definition.tabs:
        page = TabPage(tab)
        built.pages[tab.id] = page
        tabs.addTab(page, tab.label)
    return built
