"""First run: the set-up wizard (service, passphrase, recovery key)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication, QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from flsdesk import files, session
from flsdesk.paths import AppPaths
from flsdesk.store import keys
from flsdesk.store.address import StoreAddress
from flsdesk.store.errors import StoreError
from flsdesk.store.store import Store
from flsdesk_ui.common import ask_save_path
from flsdesk_ui.team_join import JoinPage

WARNING = (
    "Without the passphrase and this recovery key nobody — not flsdesk, not IT, not the "
    "FLS-DB — can open this store again. Print it or save it somewhere safe, away from this "
    "computer."
)


class ServicePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Welcome to flsdesk")
        self.setSubTitle(
            "flsdesk keeps your Fracture Liaison Service's patient records on this computer, "
            "encrypted, and prepares the monthly FLS-DB import file. First, your service."
        )
        form = QFormLayout(self)
        self.site = QLineEdit(objectName="wizard_site")
        self.site.setPlaceholderText("e.g. Northtown FLS")
        self.site.setAccessibleName("Service (FLS) name")
        self.org = QLineEdit(objectName="wizard_org_code")
        self.org.setPlaceholderText("e.g. RXX01")
        self.org.setAccessibleName("Organisation code")
        self.initials = QLineEdit(objectName="wizard_initials")
        self.initials.setMaxLength(6)
        self.initials.setAccessibleName("Your initials")
        self.initials.setToolTip("Written in the audit trail beside every change you make.")
        form.addRow("Service (FLS) name", self.site)
        form.addRow("Organisation code", self.org)
        form.addRow("Your initials", self.initials)
        self.registerField("site*", self.site)
        self.registerField("org_code", self.org)
        self.registerField("initials*", self.initials)
        # A service whose records are in its trust's database joins it instead (ui/team_join).
        self.join = QPushButton("Join the team's database instead…", objectName="wizard_join_team")
        self.join.setToolTip(
            "When your service's records are kept in a database run by your trust's IT team."
        )
        form.addRow("", self.join)


class PassphrasePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Choose a passphrase")
        self.setSubTitle(
            "The passphrase unlocks the encrypted store: at least "
            f"{keys.MIN_PASSPHRASE_LENGTH} characters. Several unrelated words are easier to "
            "remember and harder to guess than a short password."
        )
        form = QFormLayout(self)
        self.first = QLineEdit(objectName="wizard_passphrase")
        self.first.setEchoMode(QLineEdit.EchoMode.Password)
        self.first.setAccessibleName("Passphrase")
        self.second = QLineEdit(objectName="wizard_passphrase_again")
        self.second.setEchoMode(QLineEdit.EchoMode.Password)
        self.second.setAccessibleName("Passphrase again")
        self.meter = QProgressBar(objectName="wizard_strength")
        self.meter.setRange(0, 4)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(8)
        self.hint = QLabel(objectName="wizard_strength_hint")
        self.hint.setWordWrap(True)
        self.problem = QLabel(objectName="wizard_passphrase_problem")
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setWordWrap(True)
        self.remember = QCheckBox("Remember on this computer", objectName="wizard_remember")
        ok, reason = keys.keyring_status()
        if not ok:
            self.remember.setEnabled(False)
            self.remember.setText("Remember on this computer (not available)")
            self.remember.setToolTip(reason)
        self.remember_note = QLabel(
            "The key is kept in the computer's secure store (Windows Credential Manager, "
            "macOS Keychain). The passphrase is still asked after the idle lock."
            if ok
            else f"Not available here: {reason.rstrip('.')}. "
            "The passphrase will be asked at every start."
        )
        self.remember_note.setWordWrap(True)
        self.remember_note.setObjectName("wizard_remember_note")
        form.addRow("Passphrase", self.first)
        form.addRow("Strength", self.meter)
        form.addRow("", self.hint)
        form.addRow("Passphrase again", self.second)
        form.addRow("", self.problem)
        form.addRow("", self.remember)
        form.addRow("", self.remember_note)
        self.first.textChanged.connect(self._changed)
        self.second.textChanged.connect(self._changed)
        self.registerField("passphrase", self.first)
        self.registerField("remember", self.remember)
        self._changed()

    def _changed(self) -> None:
        score, hint = session.passphrase_strength(self.first.text())
        self.meter.setValue(score)
        self.hint.setText(hint if self.first.text() else "")
        self.problem.setText(self._problem() if self.second.text() else "")
        self.completeChanged.emit()

    def _problem(self) -> str:
        try:
            keys.check_new_passphrase(self.first.text())
        except (StoreError, ValueError) as exc:
            return str(exc)
        if self.first.text() != self.second.text():
            return "The two passphrases are not the same."
        return ""

    def isComplete(self) -> bool:
        return bool(self.first.text()) and not self._problem()


class RecoveryPage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Your recovery key")
        self.setSubTitle("Shown once, now. It opens the store if the passphrase is forgotten.")
        layout = QVBoxLayout(self)
        self.key_view = QPlainTextEdit(objectName="wizard_recovery_key")
        self.key_view.setReadOnly(True)
        self.key_view.setTabChangesFocus(True)  # keyboard users reach the buttons and tick box
        self.key_view.setAccessibleName("Recovery key")
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSize(13)
        self.key_view.setFont(font)
        self.key_view.setMaximumHeight(70)
        layout.addWidget(self.key_view)
        row = QHBoxLayout()
        print_button = QPushButton("Print…", objectName="wizard_print_key")
        print_button.clicked.connect(self._print)
        save = QPushButton("Save to a file…", objectName="wizard_save_key")
        save.clicked.connect(self._save)
        copy = QPushButton("Copy", objectName="wizard_copy_key")
        copy.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.key_view.toPlainText())
        )
        for button in (print_button, save, copy):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        warning = QLabel(WARNING)
        warning.setWordWrap(True)
        warning.setStyleSheet("font-weight: bold; color: #8a4b00")
        layout.addWidget(warning)
        self.confirm = QCheckBox(
            "I have printed or saved the recovery key somewhere safe",
            objectName="wizard_confirm_key",
        )
        self.confirm.toggled.connect(self.completeChanged)
        layout.addWidget(self.confirm)
        self.remember_result = QLabel(objectName="wizard_remember_result")
        self.remember_result.setWordWrap(True)
        layout.addWidget(self.remember_result)

    def initializePage(self) -> None:
        self.key_view.setPlainText(self._wizard.recovery_key)
        if self._wizard.remember_problem:
            self.remember_result.setText(
                f"The key could not be remembered on this computer: {self._wizard.remember_problem}"
            )

    def _print(self) -> None:
        printer = QPrinter()
        if QPrintDialog(printer, self).exec():
            document = QTextDocument()
            document.setPlainText(
                f"flsdesk recovery key\n\n{self._wizard.recovery_key}\n\n{WARNING}\n"
            )
            document.print_(printer)

    def _save(self) -> None:
        title = "Save the recovery key"
        name = ask_save_path(
            self, title, "flsdesk-recovery-key.txt", "Text (*.txt)", self._wizard.paths
        )
        if name:
            # Owner-only from the first byte, like every file of ours that opens the store.
            try:
                files.write_text(
                    name, f"flsdesk recovery key\n\n{self._wizard.recovery_key}\n\n{WARNING}\n"
                )
            except OSError as exc:
                QMessageBox.warning(self, title, f"Cannot write {name}: {exc.strerror or exc}")

    def isComplete(self) -> bool:
        return self.confirm.isChecked()


class SetupWizard(QWizard):
    """Creates the store when the passphrase page is left; the recovery key page follows."""

    def __init__(self, paths: AppPaths) -> None:
        super().__init__()
        self.paths = paths
        self.store: Store | None = None
        self.recovery_key = ""
        self.data_key: bytes | None = None
        self.remember_problem: str | None = None
        self.setWindowTitle("Set up flsdesk")
        self.setObjectName("setup_wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.service_page = ServicePage()
        self.passphrase_page = PassphrasePage()
        self.recovery_page = RecoveryPage(self)
        self.join_page = JoinPage(paths)
        self.addPage(self.service_page)
        self.addPage(self.passphrase_page)
        self.addPage(self.recovery_page)
        self._join_id = self.addPage(self.join_page)
        self.joining = False
        self.team_address: StoreAddress | None = None
        self.service_page.join.clicked.connect(self._join)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.resize(640, 460)

    def _join(self) -> None:
        self.joining = True
        self.next()

    def nextId(self) -> int:
        page = self.currentPage()
        if page is self.service_page:
            return self._join_id if self.joining else self.pageIds()[1]
        if page is self.recovery_page or page is self.join_page:
            return -1
        return super().nextId()

    def cleanupPage(self, page_id: int) -> None:
        if page_id == self._join_id:  # Back from the join page: the service page again
            self.joining = False
        super().cleanupPage(page_id)

    def validateCurrentPage(self) -> bool:
        if self.currentPage() is self.join_page:
            if not super().validateCurrentPage():
                return False
            self.store = self.join_page.store
            self.team_address = self.join_page.fields.chosen()
            if self.join_page.remember_problem:
                QMessageBox.warning(self, "flsdesk", self.join_page.remember_problem)
            return True
        if self.currentPage() is self.passphrase_page and self.store is None:
            try:
                created = session.create(
                    self.paths,
                    self.passphrase_page.first.text(),
                    self.service_page.initials.text(),
                    self.service_page.site.text().strip(),
                    self.service_page.org.text().strip(),
                    remember=self.passphrase_page.remember.isChecked(),
                )
            except (StoreError, ValueError, OSError) as exc:
                QMessageBox.critical(self, "The store could not be created", str(exc))
                return False
            self.store = created.store
            self.recovery_key = created.recovery_key
            self.data_key = created.data_key
            self.remember_problem = created.remember_problem
            # The passphrase is no longer needed in the widgets once the key file exists.
            self.passphrase_page.first.clear()
            self.passphrase_page.second.clear()
        return super().validateCurrentPage()

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        # Once the store exists, Esc must not close the wizard before the key is confirmed.
        if event.key() == Qt.Key.Key_Escape and self.store is not None:
            return
        super().keyPressEvent(event)
