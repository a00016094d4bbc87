"""Fits a clinic screen: the Settings help never overlaps at 1024×700, and the patient search
box works from the keyboard (Enter opens the single match, Down moves into the list)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QFormLayout, QLabel, QWidget

from flsdesk import settings as settings_schema
from flsdesk_ui.dialogs import SettingsDialog
from flsdesk_ui.main_window import MainWindow

PATIENTS = [
    {"1.01": "9434765919", "name": "Margaret Ashworth", "hospital_number": "RX1234567",
     "1.02": "1950-03-02", "1.03": "Female", "1.09": "2024-03-01", "1.11": "Wrist"},
    {"1.01": "4010232137", "name": "Harold Binns", "hospital_number": "RX7654321",
     "1.02": "1941-07-15", "1.03": "Male", "1.09": "2024-05-20", "1.11": "Hip"},
    {"1.01": "OVERSEAS", "name": "Ingrid Ashcroft", "hospital_number": "TMP-0042",
     "1.02": "1948-11-30", "1.03": "Female", "1.09": "2024-06-02", "1.11": "Spine"},
]  # fmt: skip


@pytest.fixture
def window(qtbot, store, app_paths):  # type: ignore[no-untyped-def]
    for answers in PATIENTS:
        store.new_record(answers)
    w = MainWindow(store, app_paths, "TS")
    qtbot.addWidget(w)
    w.resize(1024, 700)
    w.show()
    qtbot.waitExposed(w)
    return w


def _rect_in(widget: QWidget, ancestor: QWidget) -> QRect:
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


# -- Settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(680, 640), (520, 640), (1024, 700)])
def test_settings_help_wraps_and_never_overlaps(qtbot, window, store, size) -> None:
    dialog = SettingsDialog(store, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= 1024 and dialog.height() <= 800  # within the (offscreen) screen
    dialog.resize(*size)
    QApplication.processEvents()
    body = dialog.scroll.widget()
    form = body.layout()
    assert isinstance(form, QFormLayout)
    # Everything the form shows: row labels, inputs, help lines.
    shown: list[tuple[str, QRect]] = []
    for s in settings_schema.SETTINGS:
        widget = dialog.inputs[s.key]
        help_label = dialog.help_labels[s.key]
        shown.append((f"input {s.key}", _rect_in(widget, body)))
        shown.append((f"help {s.key}", _rect_in(help_label, body)))
        label = form.labelForField(widget)
        if isinstance(label, QLabel) and label.text():
            shown.append((f"label {s.key}", _rect_in(label, body)))
        # The whole help text has room: nothing cut off at the bottom.
        assert help_label.height() >= help_label.heightForWidth(help_label.width()), s.key
        # No horizontal scrolling: the help wraps inside the visible width.
        assert _rect_in(help_label, body).right() <= dialog.scroll.viewport().width(), s.key
    for i, (name_a, a) in enumerate(shown):
        for name_b, b in shown[i + 1 :]:
            assert not a.intersects(b), f"{name_a} {a} overlaps {name_b} {b}"
    assert not dialog.scroll.horizontalScrollBar().isVisible()
    # A short screen scrolls: the last setting can still be reached.
    last = dialog.inputs[settings_schema.SETTINGS[-1].key]
    dialog.scroll.ensureWidgetVisible(last)
    QApplication.processEvents()
    assert not last.visibleRegion().isEmpty()


# -- the search box ------------------------------------------------------------------------------


def test_enter_in_the_search_box_opens_the_single_match(qtbot, window) -> None:
    search = window.patients.search
    window.focus_search()
    qtbot.keyClicks(search, "binns")
    assert window.patients.model.rowCount() == 1
    qtbot.keyClick(search, Qt.Key.Key_Return)
    forms = [w for w in window.open_windows if w.objectName() == "record_window"]
    assert len(forms) == 1
    assert forms[0].record_id == window.patients.model.record_id(0)
    assert window.patients.selected_id() == forms[0].record_id
    forms[0].close()


def test_enter_with_several_or_no_matches_opens_nothing(qtbot, window) -> None:
    search = window.patients.search
    window.focus_search()
    qtbot.keyClicks(search, "nobody of that name")
    assert window.patients.model.rowCount() == 0
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert window.open_windows == []
    assert search.hasFocus()
    search.clear()
    qtbot.keyClicks(search, "ash")  # Ashworth and Ashcroft
    assert window.patients.model.rowCount() == 2
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert window.open_windows == []
    # Several: Enter goes down to the list, on the first, to choose with the arrows.
    assert window.patients.view.hasFocus()
    assert window.patients.view.currentIndex().row() == 0


def test_down_moves_into_the_list_and_enter_there_opens_that_row(qtbot, window) -> None:
    search = window.patients.search
    window.focus_search()
    qtbot.keyClicks(search, "ash")
    qtbot.keyClick(search, Qt.Key.Key_Down)
    view = window.patients.view
    assert view.hasFocus()
    assert view.currentIndex().row() == 0
    assert window.patients.selected_id() == window.patients.model.record_id(0)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    second = window.patients.model.record_id(1)
    assert window.patients.selected_id() == second
    qtbot.keyClick(view, Qt.Key.Key_Return)
    forms = [w for w in window.open_windows if w.objectName() == "record_window"]
    assert [f.record_id for f in forms] == [second]
    forms[0].close()


def test_down_with_no_match_stays_in_the_search_box(qtbot, window) -> None:
    search = window.patients.search
    window.focus_search()
    qtbot.keyClicks(search, "zzz")
    qtbot.keyClick(search, Qt.Key.Key_Down)
    assert search.hasFocus()
