"""The form's widgets read and show answers through the question's codec: what a person types
into the real widget is stored as the codec says, and a stored value is shown as the codec
shows it (the same text the import reads back)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from flsdesk.answers import CsvStyle, QuestionType
from flsdesk.dataset import load_definitions
from flsdesk.exchange.profiles import load_export_profile
from flsdesk_ui.form.widgets import input_for

DEFINITION = load_definitions().latest
STYLE = CsvStyle.of_profile(load_export_profile())


def _question(qtype: QuestionType):  # type: ignore[no-untyped-def]
    return next(q for q in DEFINITION.questions.values() if q.type == qtype and not q.multiline)


@pytest.mark.parametrize(
    ("qtype", "typed", "stored", "shown"),
    [
        (QuestionType.DATE, "5.3.1948", "1948-03-05", "05/03/1948"),
        (QuestionType.DATE, "31/02/2024", "31/02/2024", "31/02/2024"),
        (QuestionType.NHS, "943-476-5919", "9434765919", "943 476 5919"),
        (QuestionType.NUMBER, "-2.50", -2.5, "-2.5"),
        (QuestionType.NUMBER, "twelve", "twelve", "twelve"),
        (QuestionType.TEXT, "  Ward 7  ", "Ward 7", "Ward 7"),
    ],
)
def test_typing_into_the_widget_stores_what_the_codec_says(
    qtbot, qtype: QuestionType, typed: str, stored: object, shown: str
) -> None:  # type: ignore[no-untyped-def]
    question = _question(qtype)
    widget = input_for(question)
    qtbot.addWidget(widget)
    widget.show()
    edit = widget.findChild(QWidget, question.object_name)
    qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(edit, typed)
    assert widget.value() == stored == question.codec.from_text(typed)

    widget.set_value(stored)
    assert edit.text() == shown == question.codec.to_text(stored)


def test_a_date_shown_in_the_form_is_read_back_by_the_import(qtbot) -> None:  # type: ignore[no-untyped-def]
    question = _question(QuestionType.DATE)
    widget = input_for(question)
    qtbot.addWidget(widget)
    widget.show()
    edit = widget.findChild(QWidget, question.object_name)
    qtbot.keyClicks(edit, "29/02/2024")
    qtbot.keyClick(edit, Qt.Key.Key_Tab)
    stored = widget.value()
    assert stored == "2024-02-29"
    assert question.codec.from_cell(edit.text(), STYLE) == (stored, None)
