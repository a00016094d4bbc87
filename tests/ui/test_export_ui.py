"""The export dialog, the outbox and the opt-out tools, driven as a person would."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView

from flsdesk import session
from flsdesk.exchange import batches
from flsdesk.paths import resolve
from flsdesk_ui.export_dialog import ExportDialog
from flsdesk_ui.optout_dialog import OptoutDialog
from flsdesk_ui.outbox_view import OutboxPage
from tests.helpers.export_records import golden_records, held_back_records

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def store():
    created = session.create(resolve(None), PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    # These tests predate the opt-out requirement of new stores: relaxed, as Settings allows.
    created.store.set_setting("require_optout_check", False)
    for answers in golden_records() + held_back_records():
        created.store.new_record(answers)
    yield created.store
    created.store.close()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


class Calls(list):
    def __call__(self, *args):
        self.append(args)
        return True


def _dialog(qtbot, store) -> ExportDialog:
    dialog = ExportDialog(store, start=False)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.inform = Calls()
    dialog.open_url = Calls()
    dialog.confirm = Calls()
    with qtbot.waitSignal(dialog.report_ready, timeout=20_000):
        dialog.prepare()
    return dialog


def _double_click(qtbot, view: QAbstractItemView, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _save(qtbot, dialog: ExportDialog, path: Path) -> None:
    dialog.ask_save_path = lambda suggested: str(path)
    with qtbot.waitSignal(dialog.finished_work, timeout=20_000) as signal:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert signal.args == ["saved"]


def test_report_then_save_then_import_page(qtbot, store, out_dir: Path) -> None:
    dialog = _dialog(qtbot, store)
    assert dialog.going_model.rowCount() == 6  # the golden five and the unchecked one (warning)
    assert dialog.held_model.rowCount() == 2
    assert dialog.warnings_model.rowCount() == 1
    assert dialog.tabs.tabText(1) == "Held back (2)"
    assert not dialog.upload_button.isEnabled() and dialog.save_button.isEnabled()
    # Each held-back row opens its record.
    dialog.tabs.setCurrentIndex(1)
    held = dialog.held_model.item(0)
    with qtbot.waitSignal(dialog.open_record_requested) as opened:
        _double_click(qtbot, dialog.held_view, 0)
    assert opened.args == [held.record_id]

    target = out_dir / "export.csv"
    with qtbot.waitSignal(dialog.exported) as exported:
        _save(qtbot, dialog, target)
    assert target.exists()
    [batch] = batches.list_batches(store)
    assert exported.args == [batch.batch_id]
    assert dialog.webtool_button.isEnabled()
    after = dialog.after.text()
    assert "Import Data page" in after and "mark it as uploaded" in after

    # No upload address: Upload stays disabled and its tooltip says where to set one.
    assert not dialog.upload_button.isEnabled()
    assert "Settings (Upload address)" in dialog.upload_button.toolTip()
    qtbot.mouseClick(dialog.upload_button, Qt.MouseButton.LeftButton)
    assert batches.list_batches(store)[0].state == batches.EXPORTED

    qtbot.mouseClick(dialog.webtool_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    [(webtool,), (folder,)] = dialog.open_url
    assert webtool.toString() == "https://www.fffap.org.uk/"
    assert Path(folder.toLocalFile()) == out_dir


def test_scope_month_and_since_last(qtbot, store, out_dir: Path) -> None:
    dialog = _dialog(qtbot, store)
    saved = out_dir / "all.csv"
    _save(qtbot, dialog, saved)
    # Saved, not marked as uploaded: the same records go again, and the report says why.
    with qtbot.waitSignal(dialog.report_ready, timeout=20_000):
        qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    assert dialog.going_model.rowCount() == 6
    assert "6 record(s) are in the file of" in dialog.summary.text()
    assert "not marked as uploaded" in dialog.summary.text()
    [batch] = batches.list_batches(store)
    batches.mark_uploaded(store, batch.batch_id, store.today())
    with qtbot.waitSignal(dialog.report_ready, timeout=20_000):
        qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    assert dialog.going_model.rowCount() == 0 and not dialog.save_button.isEnabled()
    assert "Nothing to save" in dialog.summary.text()
    with qtbot.waitSignal(dialog.report_ready, timeout=20_000):
        dialog.set_scope("all")
    assert dialog.going_model.rowCount() == 6


def test_upload_then_delete_the_local_file(qtbot, store, out_dir: Path, httpserver) -> None:
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_request("/up").respond_with_json({"receipt": "R-100"}, status=201)
    dialog = _dialog(qtbot, store)
    target = out_dir / "export.csv"
    _save(qtbot, dialog, target)
    with qtbot.waitSignal(dialog.finished_work, timeout=20_000) as signal:
        qtbot.mouseClick(dialog.upload_button, Qt.MouseButton.LeftButton)
    assert signal.args == ["uploaded"]
    assert "R-100" in dialog.after.text() and "deleted" in dialog.after.text()
    assert dialog.confirm and dialog.confirm[0][0] == "Delete the local file?"
    assert not target.exists()
    [batch] = batches.list_batches(store)
    assert batch.state == batches.SENT and batch.receipt == "R-100"


def test_cancel_an_upload_waiting_to_retry(qtbot, store, out_dir: Path, httpserver) -> None:
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_request("/up").respond_with_data("busy", status=503)
    dialog = _dialog(qtbot, store)
    _save(qtbot, dialog, out_dir / "export.csv")
    with qtbot.waitSignal(dialog.finished_work, timeout=20_000) as signal:
        qtbot.mouseClick(dialog.upload_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(httpserver.log) >= 1, timeout=10_000)
        assert dialog.work.isVisible() and dialog.work.bar.isVisible()
        qtbot.mouseClick(dialog.work.cancel_button, Qt.MouseButton.LeftButton)
    assert signal.args == ["cancelled"]
    assert len(httpserver.log) == 1  # the back-off wait was cut short; no second attempt
    assert batches.list_batches(store)[0].state == batches.FAILED


def test_outbox_upload_and_retry(qtbot, store, out_dir: Path, httpserver) -> None:
    dialog = _dialog(qtbot, store)
    _save(qtbot, dialog, out_dir / "export.csv")
    page = OutboxPage(store)
    qtbot.addWidget(page)
    page.inform = Calls()
    page.show()
    assert page.model.rowCount() == 1
    page.view.selectRow(0)
    assert page.upload_button.text() == "Upload" and not page.upload_button.isEnabled()
    assert "Settings (Upload address)" in page.upload_button.toolTip()
    store.set_setting("upload_url", httpserver.url_for("/up"))
    page.refresh()
    assert page.upload_button.isEnabled()
    httpserver.expect_ordered_request("/up").respond_with_json({"error": "bad token"}, status=403)
    httpserver.expect_ordered_request("/up").respond_with_json({"receipt": "OK-7"})
    with qtbot.waitSignal(page.uploaded, timeout=20_000):
        qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    assert page.model.index(0, 5).data() == "Failed"
    assert "bad token" in page.model.index(0, 7).data()
    assert page.upload_button.text() == "Retry"
    with qtbot.waitSignal(page.uploaded, timeout=20_000):
        qtbot.mouseClick(page.upload_button, Qt.MouseButton.LeftButton)
    assert page.model.index(0, 5).data() == "Sent" and page.model.index(0, 7).data() == "OK-7"
    assert not page.upload_button.isEnabled()


def test_optout_round_trip_in_the_dialog(qtbot, store, out_dir: Path) -> None:
    # Everything sent once; then the check is done.
    dialog = _dialog(qtbot, store)
    _save(qtbot, dialog, out_dir / "export.csv")
    [batch] = batches.list_batches(store)
    batches.mark_uploaded(store, batch.batch_id, store.today())
    tools = OptoutDialog(store)
    qtbot.addWidget(tools)
    tools.show()
    tools.inform = Calls()
    tools.confirm = Calls()
    unchecked = held_back_records()[2]["1.01"]
    assert "1 NHS number(s) not yet checked" in tools.pending.text()
    listed = out_dir / "for-ig.csv"
    tools.ask_save_path = lambda suggested: str(listed)
    qtbot.mouseClick(tools.save_button, Qt.MouseButton.LeftButton)
    assert listed.read_text().splitlines() == ["NHS number", unchecked]
    answer = out_dir / "from-ig.csv"
    answer.write_text(f"{unchecked}\n")
    tools.ask_open_path = lambda: str(answer)
    with qtbot.waitSignal(tools.records_changed, timeout=20_000):
        qtbot.mouseClick(tools.read_button, Qt.MouseButton.LeftButton)
    assert "Marked 1 record(s) opted out" in tools.result.text()
    assert tools.model.rowCount() == 1
    assert tools.model.item(0).nhs_number == unchecked
    with qtbot.waitSignal(tools.open_record_requested) as opened:
        _double_click(qtbot, tools.view, 0)
    assert opened.args == [tools.model.item(0).record_id]
    assert "Every record" in tools.pending.text()
