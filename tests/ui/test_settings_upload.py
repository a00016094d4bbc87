"""Issue 11.7 in the Settings dialog: the upload proxy and certificate file are typed in like
any setting, and a wrong one is refused with a message before anything is saved."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from flsdesk_ui.dialogs import SettingsDialog


def _save(qtbot, dialog: SettingsDialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_proxy_and_certificate_file_typed_checked_and_saved(qtbot, store, tmp_path: Path) -> None:
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    proxy = dialog.inputs["upload_proxy"]
    ca_file = dialog.inputs["upload_ca_file"]
    qtbot.keyClicks(proxy, "proxy.example.nhs.uk:8080")  # no scheme: not an address
    _save(qtbot, dialog)
    assert dialog.isVisible() and "Upload proxy" in dialog.problem.text()
    assert store.get_setting("upload_proxy") in (None, "")
    proxy.clear()
    qtbot.keyClicks(proxy, "http://proxy.example.nhs.uk:8080")
    qtbot.keyClicks(ca_file, str(tmp_path / "missing.pem"))
    _save(qtbot, dialog)
    assert dialog.isVisible() and "no file" in dialog.problem.text()
    pem = tmp_path / "trust-ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    ca_file.clear()
    qtbot.keyClicks(ca_file, str(pem))
    _save(qtbot, dialog)
    assert not dialog.isVisible() and dialog.result() == 1
    assert store.get_setting("upload_proxy") == "http://proxy.example.nhs.uk:8080"
    assert store.get_setting("upload_ca_file") == str(pem)
