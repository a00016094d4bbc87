"""File → Import…: the dry-run report in a filterable table, Apply / Apply the valid rows, the
worker thread with its progress bar and Cancel — real widgets, a real encrypted store."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from flsdesk import session
from flsdesk.exchange import importer
from flsdesk.paths import resolve
from flsdesk.store.store import Store
from flsdesk_ui.import_dialog import ImportDialog
from tests.helpers.import_helpers import (
    NHS_A,
    NHS_B,
    WEBTOOL_EXPORT,
    base_row,
    unique_nhs_numbers,
    write_csv,
)

PASSPHRASE = "correct horse battery staple"
WAIT_MS = 30_000


@pytest.fixture
def store():
    created = session.create(resolve(None), PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    yield created.store
    created.store.close()


@pytest.fixture
def dialog(qtbot, store: Store) -> ImportDialog:
    d = ImportDialog(store)
    qtbot.addWidget(d)
    d.show()
    return d


def _load(qtbot, d: ImportDialog, path: Path) -> None:
    with qtbot.waitSignal(d.plan_ready, timeout=WAIT_MS):
        d.load_file(path)
    assert not d.busy


def _shown(d: ImportDialog, column: int = 0) -> list[str]:
    return [d.proxy.index(r, column).data() for r in range(d.proxy.rowCount())]


def _choose_filter(qtbot, d: ImportDialog, text: str) -> None:
    """As a person does it: Home, then Down until the wanted outcome shows."""
    d.filter.setFocus()
    qtbot.keyClick(d.filter, Qt.Key.Key_Home)
    for _ in range(d.filter.count()):
        if d.filter.currentText().startswith(text):
            return
        qtbot.keyClick(d.filter, Qt.Key.Key_Down)
    raise AssertionError(f"no filter {text!r}")


def test_report_filter_and_apply(qtbot, dialog: ImportDialog, store: Store) -> None:
    _load(qtbot, dialog, WEBTOOL_EXPORT)
    assert "windows-1252" in dialog.summary.text() and "4 new" in dialog.summary.text()
    assert dialog.filter.itemText(0) == "All (10)"
    assert dialog.apply_button.isEnabled() and not dialog.apply_valid_button.isVisible()

    _choose_filter(qtbot, dialog, "Ignored columns")
    assert dialog.filter.currentText() == "Ignored columns (6)"
    assert set(_shown(dialog)) == {"ignored column"}
    assert "Comments" in _shown(dialog, 2)
    _choose_filter(qtbot, dialog, "All")
    assert dialog.proxy.rowCount() == 10
    _choose_filter(qtbot, dialog, "New")
    assert _shown(dialog) == ["new"] * 4
    assert "NHS 4010232137" in _shown(dialog, 6)[0]

    with qtbot.waitSignal(dialog.imported, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert dialog.summary.text() == "Imported: 4 created, 0 updated, 0 unchanged."
    assert store.live_count() == 4
    assert not dialog.apply_button.isEnabled()  # applied: a second press would do nothing

    # The same file again: every row unchanged, nothing to apply.
    _load(qtbot, dialog, WEBTOOL_EXPORT)
    assert "4 unchanged" in dialog.summary.text() and "Nothing to change" in dialog.summary.text()
    assert not dialog.apply_button.isEnabled()


def test_rejected_rows_offer_the_valid_rows_only(
    qtbot, dialog: ImportDialog, store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, [base_row(NHS_A), base_row(NHS_B, **{"1.02": "01/01/1990"})])
    _load(qtbot, dialog, path)
    assert "1 rejected" in dialog.summary.text()
    assert not dialog.apply_button.isEnabled()
    assert dialog.apply_valid_button.isVisible() and dialog.apply_valid_button.isEnabled()
    _choose_filter(qtbot, dialog, "Rejected")
    assert _shown(dialog) == ["rejected"]
    assert _shown(dialog, 1) == ["3"] and _shown(dialog, 2) == ["1.02 DOB"]
    assert '(value "01/01/1990")' in _shown(dialog, 6)[0]
    with qtbot.waitSignal(dialog.imported, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.apply_valid_button, Qt.MouseButton.LeftButton)
    assert "1 rejected row(s) left out" in dialog.summary.text()
    assert store.live_count() == 1


def test_cancel_while_applying_changes_nothing(
    qtbot, dialog: ImportDialog, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [base_row(n) for n in unique_nhs_numbers(300)]
    _load(qtbot, dialog, write_csv(tmp_path, rows))
    gate = threading.Event()
    real_apply = importer.apply

    def held_apply(*args, **kwargs):  # type: ignore[no-untyped-def]
        gate.wait(10)  # the worker waits here until the test has pressed Cancel
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(importer, "apply", held_apply)
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert dialog.busy and dialog.progress.isVisible() and dialog.cancel_button.isVisible()
    assert not dialog.choose.isEnabled() and not dialog.apply_button.isEnabled()
    with qtbot.waitSignal(dialog.work_failed, timeout=WAIT_MS) as failed:
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        gate.set()
    assert "cancelled" in failed.args[0] and "nothing was changed" in failed.args[0]
    assert store.live_count() == 0
    assert not dialog.busy and not dialog.progress.isVisible()


def test_cancel_while_reading(qtbot, dialog: ImportDialog, tmp_path: Path, monkeypatch) -> None:
    path = write_csv(tmp_path, [base_row(n) for n in unique_nhs_numbers(300)])
    gate = threading.Event()
    real_read = importer.read_plan

    def held_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        gate.wait(10)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(importer, "read_plan", held_read)
    dialog.load_file(path)
    with qtbot.waitSignal(dialog.work_failed, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        gate.set()
    assert dialog.plan is None and dialog.model.rowCount() == 0
    assert "cancelled" in dialog.summary.text()


def test_an_unreadable_file_is_explained(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes("1.01 NHSNumber,1.09 X\r\n".encode("utf-16"))
    _load(qtbot, dialog, path)
    assert dialog.summary.text().startswith("This file cannot be imported:")
    assert "UTF-16" in dialog.summary.text()
    assert not dialog.apply_button.isEnabled() and not dialog.apply_valid_button.isVisible()
