"""The top of a record window: who the record is about, its status, the dataset, whether it is
saved, and the banner for a deleted or already-sent record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from flsdesk.dataset import Definition
from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION, Evaluation
from flsdesk_ui.form import autosave, values
from flsdesk_ui.form.builder import ERROR_COLOUR

_BADGE = {
    NEEDS_CORRECTION: ("#ffffff", ERROR_COLOUR),
    DRAFT: ("#3b2a00", "#ffd54f"),
    COMPLETE: ("#ffffff", "#2e7d32"),
}


class RecordHeader(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("record_header")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.title = QLabel(self)
        self.title.setObjectName("record_title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        # A long name must not widen the window past a small screen: the title gives way.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(160)
        self.badge = QLabel(self)
        self.badge.setObjectName("status_badge")
        self.badge.setAccessibleName("Record status")
        self.indicator = QLabel(self)
        self.indicator.setObjectName("save_indicator")
        self.indicator.setAccessibleName("Save status")
        self.version = QLabel(self)
        self.version.setObjectName("dataset_version")
        self.version.setStyleSheet("color: #5f6368;")
        row.addWidget(self.title, 1)
        row.addSpacing(12)
        row.addWidget(self.badge)
        row.addSpacing(12)
        row.addWidget(self.version)
        row.addSpacing(16)
        row.addWidget(self.indicator)
        outer.addLayout(row)

        self.banner = QLabel(self)
        self.banner.setObjectName("read_only_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            f"background: #fdecea; color: {ERROR_COLOUR}; padding: 6px; border-radius: 3px;"
        )
        self.banner.hide()
        outer.addWidget(self.banner)

    def show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def show_definition(self, definition: Definition) -> None:
        self.version.setText(f"{definition.name}, version {definition.version}")

    def show_record(
        self, record_id: int | None, answers: dict[str, Any], evaluation: Evaluation
    ) -> str:
        """Title and status badge; returns the part of the title without patient details."""
        definition = evaluation.definition
        parts = [f"Record {record_id}" if record_id is not None else "New record"]
        name = answers.get(definition.role("patient_name"))
        nhs = answers.get(definition.role("nhs_number"))
        if isinstance(name, str) and name:
            parts.append(name)
        if isinstance(nhs, str) and nhs:
            parts.append(values.nhs_to_text(nhs))
        self.title.setText("  ·  ".join(parts))
        status = evaluation.status
        fg, bg = _BADGE.get(status, ("#000000", "#e0e0e0"))
        text = status
        if status == DRAFT:
            text = f"Draft ({len(evaluation.missing_lite)} missing)"
        if self.badge.text() != text:
            self.badge.setText(text)
            self.badge.setStyleSheet(
                f"color: {fg}; background: {bg}; border-radius: 4px; padding: 3px 10px;"
                " font-weight: bold;"
            )
        return parts[0]

    def show_save_state(self, state: str, saved_at: datetime | None, problem: str) -> None:
        colour = "#5f6368"
        if state == autosave.NEW:
            text = "Not saved yet: the record is created when you type"
        elif state == autosave.PENDING:
            text = "Saving…"
        elif state == autosave.SAVED:
            text = f"Saved {saved_at:%H:%M:%S}" if saved_at else "Saved"
            colour = "#2e7d32"
        elif state == autosave.FAILED:
            text = f"Not saved: {problem}"
            colour = ERROR_COLOUR
        elif state == autosave.UNREACHABLE:
            text = problem  # "Not saved — the team database cannot be reached …"
            colour = ERROR_COLOUR
        elif state == autosave.ON_LEAVING:
            text = "Saved when you leave the field"
        elif state == autosave.VIEW_ONLY:
            text = "Read only"
        else:
            text = "Deleted record: read only"
        self.indicator.setText(text)
        self.indicator.setStyleSheet(f"color: {colour};")
        if state == autosave.VIEW_ONLY:
            self.show_banner(
                "You are signed in with the review role: you can read records but not change them."
            )
        if state == autosave.READ_ONLY:
            self.show_banner(
                "This record is deleted. Restore it from Deleted records to change it."
            )
