"""Joining the team's database: the wizard's page, and the same fields in Settings.

The address, the person's own user name and password, "remember on this computer" (the OS
keyring, never a file) and the trust's certificate authority file. "Test the connection" signs
in and says in a sentence what is wrong: the sentences are the store's (wrong password, unknown
host, refused certificate, newer schema), this page only shows them beside the fields.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
    QWizardPage,
)

from flsdesk import settings as app_settings
from flsdesk.paths import AppPaths
from flsdesk.store import address as team_address
from flsdesk.store import keys
from flsdesk.store.address import BadAddress, StoreAddress
from flsdesk.store.errors import SignInRefused, StoreError
from flsdesk.store.store import Store
from flsdesk_ui import team_connect
from flsdesk_ui.team_rights import role_text

log = logging.getLogger("ui.team")

ADDRESS_EXAMPLE = "postgresql://db.trust.nhs.uk/fls"
OK_COLOUR, PROBLEM_COLOUR = "#2e7d32", "#b00020"


class TeamFields(QWidget):
    """The fields of a team database connection, with "Test the connection"."""

    def __init__(self, paths: AppPaths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        pc = app_settings.read_pc_settings(paths.config_dir)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.address = QLineEdit(str(pc.get("store_address") or ""), objectName="team_address")
        self.address.setPlaceholderText(ADDRESS_EXAMPLE)
        self.address.setAccessibleName("Team database address")
        self.address.setToolTip(app_settings.PC_BY_KEY["store_address"].help)
        self.user = QLineEdit(objectName="team_user")
        self.user.setAccessibleName("Your user name")
        self.user.setToolTip("Your own user name for the team database, given by your IT team.")
        self.password = QLineEdit(objectName="team_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Database password")
        self.remember = QCheckBox("Remember on this computer", objectName="team_remember")
        usable, reason = keys.keyring_status()
        if usable:
            self.remember.setChecked(bool(pc.get("remember_db_password")))
            self.remember.setToolTip(app_settings.PC_BY_KEY["remember_db_password"].help)
        else:
            self.remember.setEnabled(False)
            self.remember.setText("Remember on this computer (not available)")
            self.remember.setToolTip(reason)
        self.ca_file = QLineEdit(str(pc.get("team_ca_file") or ""), objectName="team_ca_file")
        self.ca_file.setAccessibleName("Certificate authority file")
        self.ca_file.setToolTip(app_settings.PC_BY_KEY["team_ca_file"].help)
        browse = QPushButton("Choose…", objectName="team_ca_browse")
        browse.clicked.connect(self._choose_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(browse)
        self.test_button = QPushButton("Test the connection", objectName="team_test")
        self.test_button.clicked.connect(self.test)
        self.result = QLabel(objectName="team_result")
        self.result.setWordWrap(True)
        form.addRow("Address", self.address)
        form.addRow("Your user name", self.user)
        form.addRow("Password", self.password)
        form.addRow("", self.remember)
        form.addRow("Certificate (CA) file", ca_row)
        form.addRow("", self.test_button)
        form.addRow("", self.result)
        if self.address.text():
            self._user_from_address()
        self.address.editingFinished.connect(self._user_from_address)

    def _user_from_address(self) -> None:
        # An address that names its user fills the user field (never the other way round).
        try:
            parsed = StoreAddress.parse(self.address.text())
        except BadAddress:
            return
        if parsed.user and not self.user.text():
            self.user.setText(parsed.user)

    def _choose_ca(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "The certificate authority file", "", "Certificates (*.pem *.crt);;All (*)"
        )
        if name:
            self.ca_file.setText(name)

    def chosen(self) -> StoreAddress:
        """The address with the user name, without any password (BadAddress when wrong)."""
        return team_connect.address_with_user(self.address.text(), self.user.text())

    def show_result(self, text: str, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet(f"color: {OK_COLOUR if ok else PROBLEM_COLOUR}")

    def sign_in(self) -> Store | None:
        """Open the team store with what is typed; None (and the reason shown) when it fails."""
        try:
            address = self.chosen()
        except BadAddress as exc:
            self.show_result(str(exc), ok=False)
            self.address.setFocus()
            return None
        ca_file = team_connect.ca_file_or_none(self.ca_file.text())
        try:
            # No password typed is tried as none (a server signing people in by GSSAPI).
            store = team_connect.open_team(self.paths, address, self.password.text(), ca_file)
        except SignInRefused as exc:
            said = str(exc)
            if not self.password.text():
                said = "Please type your database password."
                self.password.setFocus()
            self.show_result(said, ok=False)
            return None
        except StoreError as exc:
            self.show_result(str(exc), ok=False)
            return None
        self.show_result(
            f"Connected to {address.display}: signed in as {store.user}, {role_text(store.role)}.",
            ok=True,
        )
        return store

    def test(self) -> bool:
        store = self.sign_in()
        if store is None:
            return False
        store.close()
        return True

    def keep(self) -> str | None:
        """Keep the address, CA file and "remember" as this computer's settings (and the
        password in the keyring when ticked). ValueError when a setting is refused; the
        keyring's problem (not fatal: the password is then asked each time) is returned."""
        address = self.chosen()
        config = self.paths.config_dir
        app_settings.write_pc_setting(config, "team_ca_file", self.ca_file.text())
        remember = self.remember.isEnabled() and self.remember.isChecked()
        remember = remember and bool(self.password.text())
        app_settings.write_pc_setting(config, "remember_db_password", remember)
        team_address.save_address(self.paths, address.display)
        log.info("this computer now uses the team database")
        return team_connect.remember(address, self.password.text(), remember)


class JoinPage(QWizardPage):
    """The wizard's other way in: no store on this computer, the service's team database."""

    def __init__(self, paths: AppPaths) -> None:
        super().__init__()
        self.setTitle("Join the team's database")
        self.setSubTitle(
            "Your service keeps its records in a database run by your trust's IT team. Type its "
            "address and your own user name and password for it (from your IT team)."
        )
        self.setObjectName("wizard_join_page")
        self.fields = TeamFields(paths, self)
        layout = QFormLayout(self)
        layout.addRow(self.fields)
        self.store: Store | None = None
        self.remember_problem: str | None = None

    def validatePage(self) -> bool:
        if self.store is None:
            store = self.fields.sign_in()
            if store is None:
                return False
            try:
                self.remember_problem = self.fields.keep()
            except (ValueError, BadAddress) as exc:
                store.close()
                self.fields.show_result(str(exc), ok=False)
                return False
            self.store = store
            self.fields.password.clear()
        return True
