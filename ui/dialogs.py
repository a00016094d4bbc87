"""Dialogs of the main window: delete, settings, audit trail, about, a record's answers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flsdesk import __version__
from flsdesk import settings as settings_schema
from flsdesk.answers import nhs_for_people
from flsdesk.datafiles import KIND_FOLDERS, DataFileError, find
from flsdesk.dataset import load_definitions
from flsdesk.exchange import profiles
from flsdesk.queries import StoreQueries, library_versions
from flsdesk.record_actions import RETENTION_DAYS, delete_reason_complete
from flsdesk.store.records import DELETE_REASONS
from flsdesk.store.store import Store
from flsdesk.wording import answer_for_people, moment_for_people, provisional_notes, question_label
from flsdesk_ui.common import ok_cancel, read_only_table, reason_combo
from flsdesk_ui.team_settings import edit_this_computer


class DeleteDialog(QDialog):
    """The webtool's deletion: a reason is required; 'Other' needs a few words."""

    def __init__(self, description: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("delete_dialog")
        self.setWindowTitle("Delete this record")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"{description}\n\nThe record moves to Deleted records, is never exported, and can "
            f"be restored for {RETENTION_DAYS} days. After that it is removed for good."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.reason = reason_combo("delete_reason", DELETE_REASONS)
        self.note = QLineEdit(objectName="delete_note")
        self.note.setAccessibleName("Details")
        self.note.setPlaceholderText("Required for Other")
        form.addRow("Reason", self.reason)
        form.addRow("Details", self.note)
        layout.addLayout(form)
        self.buttons = ok_cancel(self, "Delete")
        layout.addWidget(self.buttons)
        self.reason.currentIndexChanged.connect(self._changed)
        self.note.textChanged.connect(self._changed)
        self._changed()

    def _changed(self) -> None:
        reason = self.reason.currentData()
        ok = delete_reason_complete(reason, self.note.text())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    @property
    def chosen_reason(self) -> str:
        return str(self.reason.currentData())

    @property
    def chosen_note(self) -> str | None:
        return self.note.text().strip() or None


class SettingsDialog(QDialog):
    """Built from flsdesk.settings: every setting with a line saying what it is for."""

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("settings_dialog")
        self.setWindowTitle("Settings")
        layout = QVBoxLayout(self)
        # The settings scroll when the screen is short (1024×700); their help wraps to the
        # width and never runs under the next setting.
        body = QWidget(objectName="settings_body")
        form = QFormLayout(body)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setVerticalSpacing(4)
        self.inputs: dict[str, QWidget] = {}
        self.help_labels: dict[str, QLabel] = {}
        for s in settings_schema.SETTINGS:
            value = store.get_setting(s.key, s.default)
            widget: QWidget
            if s.kind == "bool":
                box = QCheckBox(s.label)
                box.setChecked(bool(value))
                widget = box
            elif s.kind == "int":
                spin = QSpinBox()
                spin.setRange(s.minimum or 0, s.maximum or 1_000_000)
                spin.setValue(int(value or 0))
                widget = spin
            else:
                line = QLineEdit("" if value is None else str(value))
                if s.kind == "secret":
                    line.setEchoMode(QLineEdit.EchoMode.Password)
                widget = line
            widget.setObjectName(f"setting_{s.key}")
            widget.setAccessibleName(s.label)
            widget.setAccessibleDescription(s.help)
            widget.setToolTip(s.help)
            # The help is a row of its own: the form gives a wrapped label the height its
            # text needs at the width it gets (inside a nested layout it got one line).
            help_label = QLabel(s.help, objectName=f"setting_help_{s.key}")
            help_label.setWordWrap(True)
            help_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            help_label.setStyleSheet("color: palette(dark); font-size: small")
            help_label.setContentsMargins(0, 0, 0, 6)
            form.addRow("" if s.kind == "bool" else s.label, widget)
            form.addRow("", help_label)
            self.inputs[s.key] = widget
            self.help_labels[s.key] = help_label
        self.scroll = QScrollArea(objectName="settings_scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)
        layout.addWidget(self.scroll, 1)
        self.problem = QLabel(objectName="settings_problem")
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        # Which database this computer uses is not a service setting (it says where the
        # settings are): its own dialog, kept beside the store (ui/team_settings.py).
        self.this_computer = QPushButton(
            "This computer's database (its own store or the team's)…",
            objectName="settings_this_computer",
        )
        self.this_computer.clicked.connect(lambda: edit_this_computer(store.paths, self))
        layout.addWidget(self.this_computer)
        layout.addWidget(ok_cancel(self, "Save"))
        self._fit_to_screen(parent)

    def _fit_to_screen(self, parent: QWidget | None) -> None:
        """Wide enough for the help to wrap into a line or two; no taller than the screen."""
        screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
        area = screen.availableGeometry()
        width = min(680, area.width() - 40)
        body = self.scroll.widget()
        wanted = body.heightForWidth(width - 40) if body.hasHeightForWidth() else 0
        height = max(wanted, body.sizeHint().height()) + 110
        self.resize(width, min(height, area.height() - 60))

    def _value(self, widget: QWidget) -> Any:
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox):
            return widget.value()
        assert isinstance(widget, QLineEdit)
        return widget.text()

    def accept(self) -> None:
        values: dict[str, Any] = {}
        for key, widget in self.inputs.items():
            value, problem = settings_schema.check_value(key, self._value(widget))
            if problem:
                self.problem.setText(problem)
                widget.setFocus()
                return
            values[key] = value
        for key, value in values.items():
            self.store.set_setting(key, value)
        super().accept()


class AuditDialog(QDialog):
    def __init__(self, store: Store, record_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("audit_dialog")
        self.setWindowTitle(f"Audit trail of record {record_id}")
        definition = store.definitions.get(store.load(record_id).dataset_id)
        model = QStandardItemModel(0, 6, self)
        model.setHorizontalHeaderLabels(["When", "Who", "Action", "Question", "Old", "New"])
        for item in store.audit_trail(record_id):
            if item.action == "create" and isinstance(item.new_value, dict):
                new = f"{len(item.new_value)} answers"
            else:
                new = answer_for_people(definition, item.question, item.new_value)
            reason = f" — {item.reason}" if item.reason else ""
            question = QStandardItem(question_label(definition, item.question))
            question.setData(item.question, Qt.ItemDataRole.UserRole)  # the number, for tests
            model.appendRow(
                [
                    QStandardItem(moment_for_people(item.at)),
                    QStandardItem(item.user),
                    QStandardItem(item.action + reason),
                    question,
                    QStandardItem(answer_for_people(definition, item.question, item.old_value)),
                    QStandardItem(new),
                ]
            )
        self.model = model
        layout = QVBoxLayout(self)
        layout.addWidget(read_only_table("audit_table", model))
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.resize(820, 420)


class RecordPanel(QWidget):
    """A read-only view of a record's answers, tab by tab, with what the rules say."""

    def __init__(self, store: Store, record_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        record = store.load(record_id)
        definition = store.definitions.get(record.dataset_id)
        evaluation = store.evaluate(record.answers, record_id)
        self.setObjectName(f"record_panel_{record_id}")
        name = record.answers.get(definition.role("patient_name")) or ""
        nhs = nhs_for_people(record.answers.get(definition.role("nhs_number")))
        self.title = f"Record {record_id} — {name} {nhs}".strip()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel(self.title)
        heading.setStyleSheet("font-weight: bold; font-size: large")
        layout.addWidget(heading)
        self.status = QLabel(f"Status: {evaluation.status}", objectName="record_status")
        layout.addWidget(self.status)
        tabs = QTabWidget(objectName="record_tabs")
        layout.addWidget(tabs)
        self.models: list[QStandardItemModel] = []
        for tab in definition.tabs:
            model = QStandardItemModel(0, 3, self)
            model.setHorizontalHeaderLabels(["Question", "Answer", "Notes"])
            for q in definition.questions_on(tab.id):
                applies = evaluation.applies.get(q.key, False)
                value = record.answers.get(q.key)
                notes = [m.text for m in evaluation.messages(q.key)]
                if q.key in evaluation.missing_lite:
                    notes.append("Missing for a complete record")
                if not applies:
                    notes.append("Does not apply" + (" (answer kept)" if value else ""))
                label = f"{q.number} {q.label}" if q.number else f"{q.label} (local only)"
                cells = [
                    QStandardItem(label),
                    QStandardItem(answer_for_people(definition, q.key, value)),
                ]
                cells.append(QStandardItem(" ".join(notes)))
                if not applies:
                    for cell in cells:
                        cell.setForeground(Qt.GlobalColor.gray)
                model.appendRow(cells)
            self.models.append(model)
            title = tab.label
            if not evaluation.tab_applies.get(tab.id, True) and tab.not_applicable_label:
                title = tab.not_applicable_label
            tabs.addTab(read_only_table(f"record_tab_{tab.id}", model), title)


class RecordDialog(QDialog):
    """One record read-only, or two side by side (possible duplicates)."""

    def __init__(self, store: Store, record_ids: list[int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("record_dialog")
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        layout.addLayout(row)
        self.panels = [RecordPanel(store, rid, self) for rid in record_ids]
        for panel in self.panels:
            row.addWidget(panel)
        self.setWindowTitle(" | ".join(p.title for p in self.panels))
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.resize(900 * len(record_ids), 600)


def _provisional_lines(store: Store | None, paths) -> list[str]:  # type: ignore[no-untyped-def]
    """What the About box says is provisional (the form no longer marks each field)."""
    loaded: list[Any] = []
    try:
        definitions = store.definitions if store is not None else load_definitions(paths)
        name = store.get_setting("export_profile", None) if store is not None else None
        loaded.append(profiles.load_export_profile(name or None, paths))
        loaded.append(profiles.load_upload_profile(None, paths))
    except DataFileError as exc:
        return [f"The definition files could not all be read: {exc}"]
    notes = provisional_notes(definitions, loaded)
    if not notes:
        return ["The dataset and the export format in use are not marked provisional."]
    return [
        "Provisional: the official FLS-DB dataset document and CSV import specification are "
        "not public, so parts of the dataset and the export format are reasoned assumptions "
        "until checked against them. A service holding the official documents can correct its "
        "own copy of the file (see the README). Provisional now:",
        *(f"  • {note}" for note in notes),
    ]


class AboutDialog(QDialog):
    def __init__(self, store: Store | None, paths, parent: QWidget | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        self.setObjectName("about_dialog")
        self.setWindowTitle("About flsdesk")
        layout = QVBoxLayout(self)
        lines = [
            f"flsdesk {__version__}",
            f"Qt {qVersion()}, PySide6 {pyside_version}, "
            f"SQLAlchemy {library_versions()['SQLAlchemy']}",
        ]
        if store is not None:
            lines.append(f"SQLCipher {StoreQueries(store).component_versions()['SQLCipher']}")
        lines.append("")
        lines.extend(_provisional_lines(store, paths))
        lines.append("")
        lines.append(f"Data folder: {paths.data_dir}")
        lines.append(f"Override folder for definitions: {paths.overrides_dir}")
        lines.append("")
        lines.append("Definition and profile files in use:")
        for kind in KIND_FOLDERS:
            for f in find(kind, paths):
                lines.append(f"  {kind}: {f.name} ({f.source}) — {f.path}")
        text = QPlainTextEdit("\n".join(lines), objectName="about_text")
        text.setReadOnly(True)
        layout.addWidget(text)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.resize(700, 360)
