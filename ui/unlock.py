"""Unlocking at start-up and after the idle lock."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from flsdesk import session
from flsdesk.paths import AppPaths
from flsdesk.store.errors import StoreError, WrongKey


def relock_message(idle: bool) -> str:
    """Why the window is locked, and who types what to go on."""
    why = (
        "flsdesk locked itself after a while without use."
        if idle
        else "flsdesk was locked by its user with Lock now."
    )
    return (
        f"{why} Whoever goes on types their own initials — the audit trail names them from "
        "now on — and the passphrase."
    )


class UnlockDialog(QDialog):
    """Asks for initials and (unless the key is remembered) the passphrase or recovery key.

    On success ``data_key`` holds the key and ``initials`` who is working. ``relock`` is the
    variant after the lock: the passphrase is always asked, and the initials of whoever goes
    on (someone else may be at the desk now); ``idle`` says the lock came from the idle timer
    rather than "Lock now".
    """

    def __init__(
        self,
        paths: AppPaths,
        remembered: bytes | None = None,
        initials: str = "",
        relock: bool = False,
        parent=None,  # type: ignore[no-untyped-def]
        idle: bool = False,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self.remembered = None if relock else remembered
        self.data_key: bytes | None = None
        self.setObjectName("unlock_dialog")
        self.setWindowTitle("flsdesk is locked" if relock else "Unlock flsdesk")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        self.intro = QLabel(
            relock_message(idle)
            if relock
            else "The patient records on this computer are encrypted.",
            objectName="unlock_intro",
        )
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        form = QFormLayout()
        layout.addLayout(form)
        self.initials = QLineEdit(initials, objectName="unlock_initials")
        self.initials.setMaxLength(6)
        self.initials.setAccessibleName("Your initials")
        self.initials.setToolTip("Written in the audit trail beside every change you make.")
        self.secret = QLineEdit(objectName="unlock_passphrase")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setAccessibleName("Passphrase")
        self.use_recovery = QCheckBox("Use the recovery key instead", objectName="unlock_recovery")
        self.use_recovery.toggled.connect(self._mode_changed)
        form.addRow("Your initials", self.initials)
        self.secret_label = QLabel("Passphrase")
        form.addRow(self.secret_label, self.secret)
        form.addRow("", self.use_recovery)
        if self.remembered is not None:
            self.secret.hide()
            self.secret_label.hide()
            self.use_recovery.hide()
            note = QLabel("The key is remembered on this computer.")
            form.addRow("", note)
        self.error = QLabel(objectName="unlock_error")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        unlock_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        unlock_button.setText("Unlock")
        unlock_button.setDefault(True)  # Enter in the passphrase field unlocks
        buttons.accepted.connect(self.try_unlock)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        (self.secret if initials else self.initials).setFocus()

    def _mode_changed(self, recovery: bool) -> None:
        self.secret_label.setText("Recovery key" if recovery else "Passphrase")
        self.secret.setAccessibleName("Recovery key" if recovery else "Passphrase")
        self.secret.setEchoMode(
            QLineEdit.EchoMode.Normal if recovery else QLineEdit.EchoMode.Password
        )
        self.secret.clear()
        self.secret.setFocus()

    def try_unlock(self) -> None:
        if not self.initials.text().strip():
            self.error.setText(
                "Please type your initials: the audit trail records who changed what."
            )
            self.initials.setFocus()
            return
        if self.remembered is not None:
            self.data_key = self.remembered
            self.accept()
            return
        if not self.secret.text():
            self.error.setText("Please type the passphrase.")
            return
        try:
            self.data_key = session.unlock_key(
                self.paths, self.secret.text(), recovery=self.use_recovery.isChecked()
            )
        except WrongKey as exc:
            # The message says which: not right for this store, or a typo in a recovery key.
            self.error.setText(f"{exc} Please try again.")
            self.secret.selectAll()
            self.secret.setFocus()
            return
        except StoreError as exc:
            self.error.setText(str(exc))
            return
        self.secret.clear()
        self.accept()
