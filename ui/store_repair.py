"""When the store is damaged: offer the latest good backup and restore it; the daily full
integrity check in the background; the question before rotating away a richer backup.

The rules (what counts as damage, which backup is good, what a restore does) are in
``flsdesk.store``; this module only asks the person and shows the answers.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from flsdesk.paths import AppPaths
from flsdesk.store import backup
from flsdesk.store.errors import StoreError, WrongKey
from flsdesk.store.integrity import CheckResult
from flsdesk.store.store import Store
from flsdesk_ui.background import BackgroundOp, CancelFn, ProgressFn


class RestoreOfferDialog(QDialog):
    """Says what is wrong with the store and offers the latest good backup.

    ``restored`` is True once the backup has replaced the store (the caller then unlocks it as
    usual). Without a backup to offer, it explains and only closes.
    """

    def __init__(self, paths: AppPaths, problem: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.restored = False
        self.backup = backup.latest_good_backup(paths.backups_dir)
        self.setObjectName("restore_offer_dialog")
        self.setWindowTitle("The flsdesk store is damaged")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        self.problem = QLabel(problem, objectName="restore_offer_problem")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        if self.backup is None:
            offer = (
                f"No backup was found in {paths.backups_dir}. If you keep backups elsewhere (a "
                "USB stick, a network folder), restore one with 'flsdesk restore FILE'."
            )
        else:
            held = "" if self.backup.records is None else f", holding {self.backup.records} records"
            offer = (
                f"The latest good backup was made {self.backup.created}{held}:\n"
                f"{self.backup.path}\n\nRestore it? Changes made after it was taken are lost. "
                "Type the passphrase that was in use when it was made, or the recovery key."
            )
        self.offer = QLabel(offer, objectName="restore_offer_backup")
        self.offer.setWordWrap(True)
        layout.addWidget(self.offer)
        self.secret = QLineEdit(objectName="restore_offer_secret")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setAccessibleName("Passphrase or recovery key of the backup")
        layout.addWidget(self.secret)
        self.error = QLabel(objectName="restore_offer_error")
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.restore_button = buttons.addButton(
            "Restore the backup", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.restore_button.setObjectName("restore_offer_restore")
        self.restore_button.setDefault(True)
        quit_button = buttons.addButton("Quit", QDialogButtonBox.ButtonRole.RejectRole)
        quit_button.setObjectName("restore_offer_quit")
        buttons.accepted.connect(self.try_restore)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if self.backup is None:
            self.secret.hide()
            self.restore_button.hide()
            quit_button.setText("Close")
        else:
            self.secret.setFocus()

    def try_restore(self) -> None:
        if self.backup is None:
            return
        if not self.secret.text():
            self.error.setText("Please type the passphrase or the recovery key.")
            return
        try:
            backup.restore(self.backup.path, self.secret.text(), self.paths)
        except WrongKey:
            self.error.setText(
                "That passphrase or recovery key does not open this backup. Please try again."
            )
            self.secret.selectAll()
            self.secret.setFocus()
            return
        except (StoreError, OSError) as exc:
            self.error.setText(f"The backup could not be restored: {exc}")
            return
        self.secret.clear()
        self.restored = True
        self.accept()


def offer_restore(paths: AppPaths, problem: str, parent: QWidget | None = None) -> bool:
    """Show the offer; True when the store was restored from the backup."""
    dialog = RestoreOfferDialog(paths, problem, parent)
    dialog.exec()
    return dialog.restored


def ask_rotate_richer(parent: QWidget | None = None) -> backup.AskRicher:
    """The question asked before rotation deletes backups holding more records than the store."""

    def ask(question: backup.RicherBackups) -> bool:
        box = QMessageBox(parent)
        box.setObjectName("rotate_richer_question")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Keep the older backups?")
        box.setText(
            f"The store now holds {question.store_records} records, but "
            f"{question.describe()}.\n\nIf records went missing by mistake, these backups still "
            "hold them. Delete them anyway, as the weekly rotation would?"
        )
        keep = box.addButton("Keep them", QMessageBox.ButtonRole.RejectRole)
        keep.setObjectName("rotate_richer_keep")
        delete = box.addButton("Delete them", QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("rotate_richer_delete")
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is delete

    return ask


def _check_job(store: Store) -> Callable[[ProgressFn, CancelFn], CheckResult]:
    def job(_progress: ProgressFn, _cancelled: CancelFn) -> CheckResult:
        try:
            return store.full_check()
        except Exception as exc:  # an unreadable page can surface as any database error
            return CheckResult([f"the check could not read the database ({type(exc).__name__})"])

    return job


class DailyCheck(QObject):
    """The full integrity check, at most once a day, as a background operation (never blocking
    the window); damage is shown at once in a dialog."""

    damage_found = Signal(str)
    finished = Signal()

    def __init__(self, store: Store, paths: AppPaths, parent: QWidget) -> None:
        super().__init__(parent)
        self.store = store
        self.paths = paths
        self.window = parent
        self.op: BackgroundOp | None = None
        self.result: CheckResult | None = None

    def start(self) -> bool:
        """Start the check when one is due; False when today's has been done."""
        if not self.store.full_check_due():
            return False
        self.op = BackgroundOp(_check_job(self.store), name="daily integrity check")
        self.op.succeeded.connect(self._done)
        self.op.start()
        return True

    @Slot(object)
    def _done(self, result: CheckResult) -> None:
        self.result = result
        if not result.ok:
            text = (
                "flsdesk found damage in the store's database "
                f"({result.problems[0]}).\n\nNo backup will be made of the damaged store. "
                f"{backup.restore_hint(self.paths)}"
            )
            self.damage_found.emit(text)
            QMessageBox.critical(self.window, "The flsdesk store is damaged", text)
        self.finished.emit()

    def wait(self) -> None:
        """Before the store closes: let a running check end."""
        if self.op is not None:
            self.op.wait()
