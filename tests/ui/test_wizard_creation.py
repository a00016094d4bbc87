"""The wizard creates its store the one way ``flsdesk init`` does (``session.create``): a
creation that fails half-way is said, leaves nothing, and pressing Next again works; the audit
user is the initials typed and the OS account, ``"AB (jsmith)"``."""

from __future__ import annotations

import getpass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWizard

from flsdesk import session
from flsdesk.paths import resolve
from flsdesk.store import keys
from flsdesk_ui.wizard import SetupWizard
from tests.helpers.creation_spy import CreationSpy, store_files

PASSPHRASE = "correct horse battery staple"


def test_wizard_creation_that_fails_half_way_leaves_nothing_and_next_again_works(
    qtbot, monkeypatch
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "jsmith")
    spy = CreationSpy(monkeypatch)
    paths = resolve(None)
    wizard = SetupWizard(paths)
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.service_page
    qtbot.keyClicks(page.site, "Northtown FLS")
    qtbot.keyClicks(page.org, "RXX01")
    qtbot.keyClicks(page.initials, "ab")
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    pp = wizard.passphrase_page
    assert wizard.currentPage() is pp
    qtbot.keyClicks(pp.first, PASSPHRASE)
    qtbot.keyClicks(pp.second, PASSPHRASE)

    said: list[str] = []

    def acknowledge() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, acknowledge)
            return
        qtbot.addWidget(box)
        said.append(box.text())
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    spy.fail = True
    QTimer.singleShot(0, acknowledge)
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    assert said and "Input/output error" in said[0]
    assert wizard.currentPage() is pp  # still on the passphrase page, with what was typed
    assert wizard.store is None
    assert {"flsdesk.db", "flsdesk.key"} <= set(spy.made_files)
    assert store_files(paths) == []
    assert not session.store_exists(paths)

    spy.fail = False
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.recovery_page
    assert wizard.store is not None
    try:
        assert spy.users == ["AB (jsmith)", "AB (jsmith)"]  # the same label as flsdesk init
        recovery = wizard.recovery_page.key_view.toPlainText()
        assert keys.unlock_with_recovery_key(paths.key_file, recovery) == wizard.data_key
    finally:
        wizard.store.close()
