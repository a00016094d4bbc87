"""Exported is not sent, in the window (issue 12.2, 12.5, 12.6, 12.10): the Outbox's "Mark as
uploaded in the webtool…" and "Discard", the status bar counting from the last *sent* batch, the
opt-out tools one click from the report, Save… in the last export folder, and the patient list's
status saying which error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from flsdesk import session
from flsdesk.exchange import batches
from flsdesk.paths import resolve
from flsdesk_ui.export_dialog import ExportDialog
from flsdesk_ui.main_window import MainWindow
from tests.helpers.export_records import golden_records, held_back_records

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def paths():
    return resolve(None)


@pytest.fixture
def store(paths):
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    for answers in golden_records():
        created.store.new_record(answers)
    yield created.store
    created.store.close()


@pytest.fixture
def window(qtbot, store, paths):
    w = MainWindow(store, paths, "AB")
    qtbot.addWidget(w)
    w.show()
    return w


class Calls(list):
    def __init__(self, answer=True):
        super().__init__()
        self.answer = answer

    def __call__(self, *args):
        self.append(args)
        return self.answer


def _export_dialog(qtbot, window) -> ExportDialog:
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    [dialog] = [w for w in window.open_windows if w.objectName() == "export_dialog"]
    dialog.inform = Calls()
    dialog.open_url = Calls()
    dialog.confirm = Calls()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=20_000)
    return dialog


def _close(qtbot, window, dialog: ExportDialog) -> None:
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog not in window.open_windows, timeout=5_000)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)


def _save(qtbot, dialog: ExportDialog, path: Path) -> list[str]:
    asked: list[str] = []

    def ask(suggested: str) -> str:
        asked.append(suggested)
        return str(path)

    dialog.ask_save_path = ask
    with qtbot.waitSignal(dialog.finished_work, timeout=20_000) as signal:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert signal.args == ["saved"]
    return asked


def _select_batch(qtbot, window, row: int = 0) -> None:
    view = window.outbox.view
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_mark_uploaded_in_the_webtool_from_the_outbox(qtbot, window, store, tmp_path) -> None:
    assert window.export_age.text() == "Never exported"
    assert window.export_age.styleSheet() == ""  # a new store is not overdue: not red
    dialog = _export_dialog(qtbot, window)
    assert "profile" not in dialog.summary.text()
    folder = tmp_path / "exports"
    folder.mkdir()
    asked = _save(qtbot, dialog, folder / "november.csv")
    assert not dialog.upload_button.isEnabled()  # no upload address
    assert "Settings" in dialog.upload_button.toolTip()
    assert window.export_age.text().startswith("Never sent")
    _close(qtbot, window, dialog)

    # The next Save… suggests the folder of the last export.
    dialog = _export_dialog(qtbot, window)
    assert "5 record(s) are in the file of" in dialog.summary.text()  # saved, not sent
    assert Path(asked[0]).parent == Path.home()
    asked = _save(qtbot, dialog, folder / "november-again.csv")
    assert Path(asked[0]).parent == folder
    _close(qtbot, window, dialog)

    window.act_outbox.trigger()
    page = window.outbox
    assert page.model.rowCount() == 2
    assert page.model.index(0, 5).data() == "Saved, not marked as uploaded"
    _select_batch(qtbot, window, 0)
    assert page.mark_button.isEnabled() and page.discard_button.isEnabled()
    qtbot.mouseClick(page.mark_button, Qt.MouseButton.LeftButton)
    mark = page.mark_dialog
    assert mark is not None and mark.isVisible()
    today = store.today()
    assert mark.date_edit.date() == QDate(today.year, today.month, today.day)  # today
    # Tomorrow cannot be typed: the latest day offered is today.
    assert mark.date_edit.maximumDate() == QDate(today.year, today.month, today.day)
    mark.date_edit.setFocus()
    qtbot.keyClick(mark.date_edit, Qt.Key.Key_Up)  # the day section: cannot pass today
    assert mark.date_edit.date() == QDate(today.year, today.month, today.day)
    ok = mark.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(page.changed, timeout=5_000):
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert page.model.index(0, 5).data() == "Sent"
    assert page.model.index(0, 6).data() == f"{today:%d/%m/%Y}"  # the day given, no time
    assert "Uploaded in the webtool on" in page.model.index(0, 7).data()
    assert not page.mark_button.isEnabled() and not page.discard_button.isEnabled()
    assert window.export_age.text() == "Sent today" and window.export_age.styleSheet() == ""

    # The older, never-sent file is discarded: it stays in the list as such.
    _select_batch(qtbot, window, 1)
    page.confirm = Calls(True)
    with qtbot.waitSignal(page.changed, timeout=5_000):
        qtbot.mouseClick(page.discard_button, Qt.MouseButton.LeftButton)
    assert page.confirm and "not sent" in page.confirm[0][1]
    assert page.model.index(1, 5).data() == "Discarded (not sent)"
    assert [b.state for b in batches.list_batches(store)] == [batches.SENT, batches.DISCARDED]


def test_discard_asks_first(qtbot, window, store, tmp_path) -> None:
    dialog = _export_dialog(qtbot, window)
    _save(qtbot, dialog, tmp_path / "x.csv")
    _close(qtbot, window, dialog)
    window.outbox.refresh()
    _select_batch(qtbot, window, 0)
    window.outbox.confirm = Calls(False)
    qtbot.mouseClick(window.outbox.discard_button, Qt.MouseButton.LeftButton)
    assert batches.list_batches(store)[0].state == batches.EXPORTED  # said no: unchanged


def test_unchecked_records_held_back_with_the_optout_tools_one_click_away(
    qtbot, window, store
) -> None:
    for answers in held_back_records():
        store.new_record(answers)
    dialog = _export_dialog(qtbot, window)
    held = {r.record_id: r.reason for r in dialog.plan.held_back}
    unchecked = [rid for rid, why in held.items() if "Opt-out list" in why or "opt-out" in why]
    assert len(unchecked) == 1  # a new store requires the check (FAQ 5)
    assert "not yet checked against the National Data Opt-out" in dialog.summary.text()
    dialog.tabs.setCurrentIndex(1)
    assert dialog.optout_button.isVisible()
    qtbot.mouseClick(dialog.optout_button, Qt.MouseButton.LeftButton)
    names = [w.objectName() for w in window.open_windows]
    assert "optout_dialog" in names
    # The held-back list says which error, not "Needs correction".
    assert any(why.startswith("This is not a valid NHS number") for why in held.values())
    assert "Needs correction" not in held.values()
    for w in list(window.open_windows):
        w.close()


def test_patient_list_status_says_which_error_and_an_empty_record_is_a_draft(
    qtbot, window, store
) -> None:
    first = window.patients.model.ids[0]
    twin = store.new_record(store.load(first).answers)
    empty = store.new_record({})
    window.refresh()
    model = window.patients.model
    col = [c.key for c in model.columns].index("status")
    row = model.row_of(twin)
    assert model.index(row, col).data() == "Needs correction"
    why = model.index(row, col).data(Qt.ItemDataRole.ToolTipRole)
    assert f"record {first}" in why and "same NHS number" in why
    row = model.row_of(empty)
    assert model.index(row, col).data().startswith("Draft (")
    assert model.index(row, col).data(Qt.ItemDataRole.ForegroundRole).color().name() != "#b00020"
    assert model.index(row, col).data(Qt.ItemDataRole.ToolTipRole).startswith("Missing: ")


def test_an_export_killed_before_finishing_is_recognised_at_start(qtbot, store, paths, tmp_path):
    """The state a kill between the rename and the batch's last commit leaves (the crash-point
    tests make it with a real SIGKILL): the window's start settles it by the file's hash."""
    from flsdesk.exchange import export as ex

    result = ex.write(store, ex.prepare(store, ex.Scope.all()), tmp_path / "killed.csv")
    with store.write_transaction() as conn:
        conn.exec_driver_sql("UPDATE export_batches SET state = 'writing'")
    w = MainWindow(store, paths, "AB")
    qtbot.addWidget(w)
    w.show()
    assert w.outbox.model.rowCount() == 1
    assert w.outbox.model.index(0, 5).data() == "Saved, not marked as uploaded"
    [batch] = batches.list_batches(store)
    assert batch.batch_id == result.batch_id and batch.state == batches.EXPORTED
