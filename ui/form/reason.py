"""The reason asked before changing a record that has already been sent to the FLS-DB."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

COMMON_REASONS = (
    "Correction of an error",
    "New information from the patient or notes",
    "Follow-up recorded",
    "Completing missing answers",
)
NO_REASON = "No reason given"


class EditReasonDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("edit_reason_dialog")
        self.setWindowTitle("Why does this record change?")
        layout = QVBoxLayout(self)
        text = QLabel(
            "This record has already been sent to the FLS-DB. Say in a few words why it "
            "changes; the reason is kept in the audit trail with the change."
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.choice = QComboBox(objectName="edit_reason")
        self.choice.setEditable(True)
        self.choice.addItems(COMMON_REASONS)
        self.choice.setAccessibleName("Reason for the change")
        layout.addWidget(self.choice)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.choice.setFocus()

    def reason(self) -> str:
        """The reason typed or chosen; without one the change is still saved, and says so."""
        text = self.choice.currentText().strip()
        if self.result() != QDialog.DialogCode.Accepted or not text:
            return NO_REASON
        return text[:200]
