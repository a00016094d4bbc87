"""Settings of this computer: which database it uses (its own store or the team's) and the
trust's certificate authority file. Kept in this computer's config folder, not in the store: they
say where the store is. Used from the next start."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from flsdesk import settings as app_settings
from flsdesk.paths import AppPaths
from flsdesk.store.address import BadAddress
from flsdesk_ui import team_connect
from flsdesk_ui.team_join import TeamFields

log = logging.getLogger("ui.team")


class ThisComputerDialog(QDialog):
    def __init__(self, paths: AppPaths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.setObjectName("this_computer_dialog")
        self.setWindowTitle("This computer's database")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Leave the address empty for this computer's own encrypted store. For the team's "
            "database, type its address and your user name; the password is needed only to test "
            "the connection or to remember it on this computer. Changes apply from the next start "
            "of flsdesk.",
            objectName="this_computer_intro",
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.fields = TeamFields(paths, self)
        layout.addWidget(self.fields)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.notice: str | None = None  # the keyring's problem, shown by the caller

    def save(self) -> None:
        config = self.paths.config_dir
        f = self.fields
        try:
            if not f.address.text().strip():
                app_settings.write_pc_setting(config, "store_address", "")
                app_settings.write_pc_setting(config, "team_ca_file", f.ca_file.text())
                log.info("this computer now uses its own store")
                self.accept()
                return
            address = f.chosen()
            remember = f.remember.isEnabled() and f.remember.isChecked()
            if remember and not f.password.text():
                f.show_result(
                    "To remember the password on this computer, type it (it is checked by "
                    "signing in).",
                    ok=False,
                )
                f.password.setFocus()
                return
            if f.password.text() and not f.test():
                return  # the reason is shown beside the fields
            app_settings.write_pc_setting(config, "team_ca_file", f.ca_file.text())
            if f.password.text() or not remember:
                app_settings.write_pc_setting(config, "remember_db_password", remember)
                self.notice = team_connect.remember(address, f.password.text(), remember)
            app_settings.write_pc_setting(config, "store_address", address.display)
        except (ValueError, BadAddress) as exc:
            f.show_result(str(exc), ok=False)
            return
        f.password.clear()
        log.info("this computer's database settings saved")
        self.accept()


def edit_this_computer(paths: AppPaths, parent: QWidget | None = None) -> bool:
    """The dialog, from the menu or from Settings; True when something was saved."""
    dialog = ThisComputerDialog(paths, parent)
    if not dialog.exec():
        return False
    if dialog.notice:
        QMessageBox.warning(parent, "flsdesk", dialog.notice)
    return True
