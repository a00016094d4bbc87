"""Signing in to the team database at start, and again after the idle lock.

At start the password comes from the keyring when the person ticked "remember" (or from
FLSDESK_DB_PASSWORD); otherwise, or when the server refuses it, this dialog asks. After the lock
the password is always asked, as the local store always asks its passphrase: the server checks it
(or, while the server cannot be reached, the remembered one does).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from flsdesk.paths import AppPaths
from flsdesk.store import address as team_address
from flsdesk.store import keys
from flsdesk.store.address import StoreAddress
from flsdesk.store.errors import ServerUnreachable, SignInRefused, StoreError
from flsdesk.store.store import Store
from flsdesk_ui import team_connect

log = logging.getLogger("ui.team")


def team_relock_message(idle: bool, user: str) -> str:
    why = (
        "flsdesk locked itself after a while without use."
        if idle
        else "flsdesk was locked by its user with Lock now."
    )
    return (
        f"{why} Signed in to the team database as {user}: type {user}'s database password to "
        "go on. Someone else quits flsdesk and starts it again to sign in as themselves."
    )


class TeamUnlockDialog(QDialog):
    """Asks the database password of the address's user.

    At start (``relock=False``) a successful sign-in leaves the open store in ``store``.
    After the lock (``relock=True``) nothing is opened: the password is checked and
    ``accepted`` means the person may go on.
    """

    def __init__(
        self,
        paths: AppPaths,
        address: StoreAddress,
        ca_file: str | None,
        *,
        problem: str = "",
        relock: bool = False,
        idle: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self.address = address
        self.ca_file = ca_file
        self.relock = relock
        self.store: Store | None = None
        self.remember_problem: str | None = None
        self.setObjectName("team_unlock_dialog")
        self.setWindowTitle("flsdesk is locked" if relock else "Sign in to the team database")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        user = address.user or "you"
        self.intro = QLabel(
            team_relock_message(idle, user)
            if relock
            else f"The service's records are in the team database {address.display}.",
            objectName="team_unlock_intro",
        )
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        form = QFormLayout()
        layout.addLayout(form)
        self.user = QLineEdit(address.user or "", objectName="team_unlock_user")
        self.user.setAccessibleName("User name")
        # The address names whose password this is; only an address without a user asks it.
        self.user.setReadOnly(bool(address.user) or relock)
        self.password = QLineEdit(objectName="team_unlock_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Database password")
        form.addRow("User name", self.user)
        form.addRow("Database password", self.password)
        self.remember = QCheckBox("Remember on this computer", objectName="team_unlock_remember")
        usable, reason = keys.keyring_status()
        if relock:
            self.remember.hide()
        elif not usable:
            self.remember.setEnabled(False)
            self.remember.setText("Remember on this computer (not available)")
            self.remember.setToolTip(reason)
        else:
            self.remember.setChecked(team_address.remembered_password(address) is not None)
            self.remember.setToolTip(
                "Kept in the computer's secure keyring, never in a file. The password is still "
                "asked after the idle lock."
            )
        form.addRow("", self.remember)
        self.error = QLabel(problem, objectName="team_unlock_error")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Unlock" if relock else "Sign in")
        ok.setDefault(True)
        buttons.accepted.connect(self.try_unlock)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        (self.password if address.user else self.user).setFocus()

    def try_unlock(self) -> None:
        password = self.password.text()
        if not self.user.text().strip():
            self.error.setText("Please type your user name for the team database.")
            self.user.setFocus()
            return
        if not self.address.user:
            self.address = dataclasses.replace(self.address, user=self.user.text().strip())
        # An empty password is tried as none: a server that signs people in by GSSAPI
        # (Kerberos, the Windows sign-in) asks for none; any other says it wants one.
        try:
            if self.relock:
                self._check(password)
            else:
                self.store = team_connect.open_team(
                    self.paths, self.address, password, self.ca_file
                )
        except SignInRefused as exc:
            if not password:
                self.error.setText("Please type your database password.")
                self.password.setFocus()
                return
            self.error.setText(f"{exc} Please try again.")
            self.password.selectAll()
            self.password.setFocus()
            return
        except StoreError as exc:
            self.error.setText(str(exc))
            return
        if not self.relock and password:
            self.remember_problem = team_connect.remember(
                self.address, password, self.remember.isChecked()
            )
        self.password.clear()
        self.accept()

    def _check(self, password: str) -> None:
        try:
            team_connect.check_password(self.paths, self.address, password, self.ca_file)
        except ServerUnreachable:
            # The server cannot say; the password this computer remembers for it can.
            remembered = team_address.remembered_password(self.address)
            if not password or remembered != password:
                raise
            log.info("unlocked against the remembered password (server unreachable)")


def team_relock_prompt(
    paths: AppPaths, address: StoreAddress, ca_file: str | None
) -> Callable[[QWidget, bool], str | None]:
    """The main window's unlock after the lock, for a team store: the user name, or None."""

    def ask(parent: QWidget, idle: bool) -> str | None:
        dialog = TeamUnlockDialog(paths, address, ca_file, relock=True, idle=idle, parent=parent)
        return address.user if dialog.exec() else None

    return ask
