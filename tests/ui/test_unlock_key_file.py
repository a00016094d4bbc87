"""The unlock dialog says "the key file does not belong to this database" when it is another
store's key file (the passphrase typed is right for it), never "that passphrase is not right"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from flsdesk import session
from flsdesk.paths import resolve
from flsdesk_ui.unlock import UnlockDialog

PASSPHRASE = "correct horse battery staple"


def test_another_stores_key_file_is_named_in_the_unlock_dialog(qtbot, tmp_path: Path) -> None:
    ours, theirs = resolve(tmp_path / "ours"), resolve(tmp_path / "theirs")
    for paths, site in ((ours, "Northtown FLS"), (theirs, "Southtown FLS")):
        session.create(paths, PASSPHRASE, "AB", site, "RXX01").store.close()
    own_key_file = ours.key_file.read_bytes()
    ours.key_file.write_bytes(theirs.key_file.read_bytes())  # copied over by mistake

    dialog = UnlockDialog(ours, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.initials, "ab")
    qtbot.keyClicks(dialog.secret, PASSPHRASE)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.data_key is None
    assert "does not belong to the database" in dialog.error.text()
    assert "not right" not in dialog.error.text()

    # With its own key file back, the same passphrase opens it: nothing was changed.
    ours.key_file.write_bytes(own_key_file)
    dialog.secret.clear()
    qtbot.keyClicks(dialog.secret, PASSPHRASE)
    qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)
    assert dialog.result() == UnlockDialog.DialogCode.Accepted
    reopened = session.open_store(ours, dialog.data_key, "AB")
    assert reopened.get_setting("service_name") == "Northtown FLS"
    reopened.close()
