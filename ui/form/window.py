"""The record window: one record's form, live rules, and saving that never loses a field.

Data flows one way: an edit updates the answers held here → the store's rules evaluate them
(``Store.evaluate``, duplicate checks included) → the rows show or hide and show their messages →
the store saves (``Store.new_record`` / ``Store.save``) within a second, or at once when the person
leaves the field, presses Enter or Ctrl+S. Hidden answers stay in the answers saved; the rules
ignore them, the store keeps them.

Only record ids and question numbers are logged, never an answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flsdesk.dataset import Definition
from flsdesk.exchange.export import was_exported
from flsdesk.hidden_notes import hidden_notes
from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION, Evaluation, is_answered
from flsdesk.store.records import Conflict, SaveResult
from flsdesk.store.store import Store
from flsdesk_ui.form import call_history, values
from flsdesk_ui.form.builder import (
    ERROR_COLOUR,
    WARNING_COLOUR,
    BuiltForm,
    QuestionRow,
    TabPage,
    build_form,
)
from flsdesk_ui.form.conflict import MINE, ConflictDialog
from flsdesk_ui.form.reason import EditReasonDialog

log = logging.getLogger("ui.form")

AUTOSAVE_MS = 600  # a pause in typing this long saves: well within the promised second
RETRY_MS = 5000  # after a failed save, try again this often (the indicator says why)
SIDE_WIDTH = 290
NARROW_SIDE_WIDTH = 230  # below WIDE_WINDOW the side panel gives the form room
WIDE_WINDOW = 1180
TALL_WINDOW = 800
# What a window frame and title bar take beyond the client area (availableGeometry counts them).
_FRAME_ALLOWANCE = (16, 40)
# The tabs not in view are built this long after the form first shows (one per event-loop turn),
# so the form appears at once and a key pressed meanwhile waits a few milliseconds at most.
BACKGROUND_BUILD_MS = 30

_BADGE = {
    NEEDS_CORRECTION: ("#ffffff", ERROR_COLOUR),
    DRAFT: ("#3b2a00", "#ffd54f"),
    COMPLETE: ("#ffffff", "#2e7d32"),
}
# Item data roles of the side panel lists.
_KEY_ROLE = Qt.ItemDataRole.UserRole
_RECORD_ROLE = Qt.ItemDataRole.UserRole + 1

# Indicator states
_NEW, _PENDING, _SAVED, _FAILED, _READ_ONLY = "new", "pending", "saved", "failed", "read-only"
_ON_LEAVING = "on-leaving"


class RecordWindow(QWidget):
    """One record's form. ``record_id=None`` starts a new record, created at the first change."""

    saved = Signal(int)
    open_record_requested = Signal(int)

    def __init__(
        self,
        store: Store,
        record_id: int | None = None,
        prefill: dict[str, Any] | None = None,
        tab: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("record_window")
        self.store = store
        self.record_id: int | None = record_id
        self._answers: dict[str, Any] = {}
        self._read_only = False
        self._dirty = False
        self._save_problem = ""
        self._saved_at: datetime | None = None
        # Once a record has gone to the FLS-DB, every later change carries a reason in the
        # audit trail; it is asked once per opening of the form, when the person first leaves a
        # changed field (never by the autosave timer, mid-typing).
        self._exported = False
        self.edit_reason: str | None = None
        self.ask_edit_reason = self._ask_edit_reason  # tests replace this hook
        # A save (with its reason or conflict dialog) is under way: focus moving to the dialog
        # or the timer must not start another one.
        self._busy = False
        # What the last load or save of this window stored: every save states it, so that a
        # save after someone else's (another window, an import) merges instead of overwriting.
        self._base_version: int | None = None
        self._base_answers: dict[str, Any] = {}
        if record_id is not None:
            record = store.load(record_id)
            self._answers = dict(record.answers)
            self._base_version = record.version
            self._base_answers = dict(record.answers)
            self._read_only = record.deleted
            self._exported = not record.deleted and was_exported(store, record_id)
        if prefill:
            # A new fracture for a known patient: shown at once, but the record is created only
            # when the person changes something (never a record nobody meant to make).
            self._answers.update({k: v for k, v in prefill.items() if is_answered(v)})
            self._dirty = record_id is not None
        self._applies: dict[str, bool] = {}
        self._stale: set[str] = set()
        self._panel_state: tuple[Any, ...] = ()
        self.evaluation: Evaluation | None = None
        self._form: BuiltForm | None = None

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._autosave)
        # The other tabs are built just after the form first shows, one per event-loop turn.
        self._builder = QTimer(self)
        self._builder.setSingleShot(True)
        self._builder.timeout.connect(self._build_next_page)

        self._targets: dict[QWidget, QuestionRow] = {}
        self._build_chrome()
        self._build_form(store.definitions.for_answers(self._answers))
        self._refresh()
        self._set_indicator(_READ_ONLY if self._read_only else _SAVED if record_id else _NEW)
        if self._exported:
            self.banner.setText(
                "This record has been sent to the FLS-DB. A change asks for a short reason, kept "
                "in the audit trail; export it again so the webtool has the correction."
            )
            self.banner.show()
        if self._dirty:
            self._timer.start(AUTOSAVE_MS)
        first = tab if tab in self._form_definition.tabs_by_id else self._form_definition.tabs[0].id
        self.show_tab(first)
        log.info("record %s opened in the form", record_id if record_id is not None else "(new)")

    # -- building --------------------------------------------------------------------------------

    def _build_chrome(self) -> None:
        self._fit_to_screen()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)

        header = QHBoxLayout()
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
        header.addWidget(self.title, 1)
        header.addSpacing(12)
        header.addWidget(self.badge)
        header.addSpacing(12)
        header.addWidget(self.version)
        header.addSpacing(16)
        header.addWidget(self.indicator)
        outer.addLayout(header)

        self.banner = QLabel(self)
        self.banner.setObjectName("read_only_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            f"background: #fdecea; color: {ERROR_COLOUR}; padding: 6px; border-radius: 3px;"
        )
        self.banner.hide()
        outer.addWidget(self.banner)

        body = QHBoxLayout()
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("record_tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(self._tab_changed)
        body.addWidget(self.tabs, 1)

        side = QFrame(self)
        self.side = side
        side.setObjectName("side_panel")
        side.setFixedWidth(self._side_width())
        side.setFrameShape(QFrame.Shape.StyledPanel)
        side_layout = QVBoxLayout(side)
        self.missing_title = QLabel(side)
        self.missing_title.setObjectName("missing_title")
        self.missing_title.setWordWrap(True)
        self.missing = QListWidget(side)
        self.missing.setObjectName("missing_list")
        self.missing.setAccessibleName("Missing for a complete record")
        self.missing.setWordWrap(True)
        self.missing.setSpacing(1)
        self.problems_title = QLabel(side)
        self.problems_title.setObjectName("problems_title")
        self.problems = QListWidget(side)
        self.problems.setObjectName("problems_list")
        self.problems.setAccessibleName("Errors and warnings")
        self.problems.setWordWrap(True)
        self.problems.setSpacing(2)
        for widget in (self.missing, self.problems):
            widget.itemActivated.connect(self._panel_item)
            widget.itemClicked.connect(self._panel_item)
        side_layout.addWidget(self.missing_title)
        side_layout.addWidget(self.missing, 3)
        side_layout.addWidget(self.problems_title)
        side_layout.addWidget(self.problems, 2)
        body.addWidget(side)
        outer.addLayout(body, 1)

        # Leaving a field saves it: one watcher for the whole window instead of a filter per input.
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)

        shortcuts = (
            (QKeySequence.StandardKey.Save, self._save_shortcut),
            (QKeySequence("Ctrl+PgDown"), lambda: self._step_tab(1)),
            (QKeySequence("Ctrl+PgUp"), lambda: self._step_tab(-1)),
            (QKeySequence(Qt.Key.Key_Escape), self.close),
        )
        for keys, slot in shortcuts:
            # Window context: a shortcut never fires inside a pop-up (Esc there closes the
            # calendar or the combo list, not the record).
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

    def _build_form(self, definition: Definition) -> None:
        """Empty pages for every tab; each is filled when first needed (``_ensure_page``)."""
        current = ""
        name = ""
        if self._form is not None:  # another dataset version now applies (1.09 changed)
            focused = self.focusWidget()
            name = focused.objectName() if focused else ""
            current = getattr(self.tabs.currentWidget(), "tab", None)
            current = current.id if current is not None else ""
            self.tabs.blockSignals(True)
            while self.tabs.count():
                page = self.tabs.widget(0)
                self.tabs.removeTab(0)
                page.deleteLater()
            self.tabs.blockSignals(False)
            self._form = None
        self.tabs.blockSignals(True)  # adding pages switches tabs: not the person's doing
        try:
            self._form = build_form(definition, self.tabs, self)
        finally:
            self.tabs.blockSignals(False)
        self._targets = {}
        self._applies = {}
        self._stale.clear()
        self._panel_state = ()
        self.version.setText(f"{definition.name}, version {definition.version}")
        if current in self._form.pages:
            self._ensure_page(current)
            self.tabs.setCurrentWidget(self._form.pages[current])
            self._builder.start(0)
        if name:
            target = self.findChild(QWidget, name)
            if target is not None:
                target.setFocus()

    def _ensure_page(self, tab_id: str) -> None:
        """Build a page's rows if not yet done, showing them as the last evaluation says."""
        assert self._form is not None
        made = self._form.build_page(tab_id)
        if not made:
            return
        page = self._form.pages[tab_id]
        call_history.attach(page, self._form.definition, self.store, lambda: self.record_id)
        evaluation = self.evaluation
        for row in made:
            key = row.question.key
            row.input.set_value(self._answers.get(key))
            if self._read_only:
                row.input.set_read_only(True)
            for widget in row.focus_chain():
                self._targets[widget] = row
            applies = self._applies.get(key, True)
            if not applies:
                row.hide()
            elif page.isVisible():
                row.show()  # on a page already showing, a new row shows only when told
            if evaluation is not None:
                row.show_messages(evaluation.errors.get(key, ()), evaluation.warnings.get(key, ()))
            if key in self._stale:
                row.set_stale(True)
        if evaluation is not None:
            self._show_hidden_notes(evaluation)

    def _build_next_page(self) -> None:
        if self._form is None:
            return
        pending = self._form.unbuilt()
        if pending:
            self._ensure_page(pending[0])
        if len(pending) > 1:
            self._builder.start(0)

    @property
    def fully_built(self) -> bool:
        return self._form is not None and not self._form.unbuilt()

    def ensure_built(self) -> None:
        """Build every page now (tests, screenshots; the form does it by itself when idle)."""
        assert self._form is not None
        for tab_id in self._form.unbuilt():
            self._ensure_page(tab_id)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._form is not None and self._form.unbuilt():
            # After the first paint, so the form appears with the tab the person sees first.
            self._builder.start(BACKGROUND_BUILD_MS)

    def _fit_to_screen(self) -> None:
        """Open at the usual size, or smaller on a smaller screen (down to 1024×700)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        width, height = WIDE_WINDOW, TALL_WINDOW
        if screen is not None:
            room = screen.availableGeometry()
            width = min(width, room.width() - _FRAME_ALLOWANCE[0])
            height = min(height, room.height() - _FRAME_ALLOWANCE[1])
        self.resize(width, height)

    def _side_width(self) -> int:
        return SIDE_WIDTH if self.width() >= WIDE_WINDOW else NARROW_SIDE_WIDTH

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        wanted = self._side_width()
        if self.side.width() != wanted:
            self.side.setFixedWidth(wanted)
            layout = self.layout()
            if layout is not None:
                layout.activate()  # now, not at the next turn: no frame with the panel cut off

    @property
    def _form_definition(self) -> Definition:
        assert self._form is not None
        return self._form.definition

    # -- public API ------------------------------------------------------------------------------

    def show_tab(self, tab_id: str) -> None:
        """Bring a tab to the front (e.g. "followup") and put the cursor in its first field."""
        assert self._form is not None
        page = self._form.pages.get(tab_id)
        if page is None:
            log.warning("record %s: no tab %r in this dataset", self.record_id, tab_id)
            return
        self._ensure_page(tab_id)
        self.tabs.setCurrentWidget(page)
        self._focus_first(page)

    def flush(self) -> bool:
        """Save now if anything is pending; True when everything shown is in the store."""
        return self._save_now()

    @property
    def answers(self) -> dict[str, Any]:
        """A copy of the answers as they will be saved (hidden ones included)."""
        return dict(self._answers)

    def row(self, key: str) -> QuestionRow:
        """A question's row (its page is built first if need be)."""
        assert self._form is not None
        if key not in self._form.rows:
            self._ensure_page(self._form_definition.questions[key].tab)
        return self._form.rows[key]

    @property
    def pending(self) -> bool:
        return self._dirty

    def bring_to_front(self, tab: str | None = None) -> None:
        """Opening a record already open shows its window instead of a second, stale copy."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        if tab is not None:
            self.show_tab(tab)

    # -- reacting to the person ------------------------------------------------------------------

    # The rows call these (ui.form.builder.FormListener).

    def input_changed(self, key: str) -> None:
        if self._read_only:
            return
        value = self.row(key).input.value()
        if is_answered(value):
            self._answers[key] = value
        else:
            self._answers.pop(key, None)
        self._unstale(key)
        self._dirty = True
        if self._exported:
            # A sent record is saved when the person leaves the field: a half-typed value must
            # not become a "correction" of its own, nor the reason be asked mid-typing.
            self._set_indicator(_ON_LEAVING)
        else:
            self._set_indicator(_PENDING)
            self._timer.start(AUTOSAVE_MS)
        self._refresh()

    def _focus_changed(self, old: QWidget | None, _now: QWidget | None) -> None:
        row = self._targets.get(old) if old is not None else None
        if row is None:
            return
        row.input.left()
        if self._dirty:
            self._save_now()

    def input_committed(self, _key: str) -> None:
        if self._dirty:
            self._save_now()

    def record_link(self, record_id: int) -> None:
        self.open_record_requested.emit(record_id)

    def answer_kept(self, key: str) -> None:
        self._unstale(key)
        self.row(key).input.focus_target.setFocus()

    def _unstale(self, key: str) -> None:
        if key in self._stale:
            self._stale.discard(key)
            self.row(key).set_stale(False)

    def _save_shortcut(self) -> None:
        if not self._dirty and self.record_id is not None and not self._read_only:
            self._set_indicator(_SAVED)  # nothing pending: say so truthfully, nothing to write
            return
        self._save_now()

    def _autosave(self) -> None:
        if self._exported and not self._save_problem:
            return  # saved on leaving the field (only a retry after a failure runs from here)
        self._save_now()

    # -- rules → screen --------------------------------------------------------------------------

    def _refresh(self, evaluation: Evaluation | None = None) -> None:
        if evaluation is None:
            try:
                evaluation = self.store.evaluate(self._answers, self.record_id)
            except Exception as exc:  # the store went away (locked, closed): keep the typing
                log.error("record %s: rules not evaluated (%s)", self.record_id, type(exc).__name__)
                return
        if evaluation.definition.id != self._form_definition.id:
            self._build_form(evaluation.definition)
        self.evaluation = evaluation
        assert self._form is not None
        answers = self._answers
        rows = self._form.rows
        for key, applies in evaluation.applies.items():
            before = self._applies.get(key)
            if before == applies:
                continue
            self._applies[key] = applies
            back = applies and before is False and is_answered(answers.get(key))
            if back:  # after being hidden: the kept answer shows grey until confirmed
                self._stale.add(key)
            row = rows.get(key)
            if row is not None:
                if before is not None or not applies:  # rows start shown: skip a no-op
                    row.setVisible(applies)
                if back:
                    row.set_stale(True)
        errors, warnings = evaluation.errors, evaluation.warnings
        for key, row in rows.items():
            row.show_messages(errors.get(key, ()), warnings.get(key, ()))
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            applies = evaluation.tab_applies.get(page.tab.id, True)
            if applies != page.applies:
                page.set_applies(applies)
                self.tabs.setTabText(index, page.tab_text())
        self._show_hidden_notes(evaluation)
        self._show_panel(evaluation)
        self._show_header(evaluation)

    def _show_hidden_notes(self, evaluation: Evaluation) -> None:
        assert self._form is not None
        notes = hidden_notes(evaluation.definition, evaluation, self.store.today())
        for key, row in self._form.rows.items():
            if row.hidden_note is not None:
                row.hidden_note.setVisible(key in notes)

    def _show_header(self, evaluation: Evaluation) -> None:
        definition = evaluation.definition
        parts = [f"Record {self.record_id}" if self.record_id is not None else "New record"]
        name = self._answers.get(definition.role("patient_name"))
        nhs = self._answers.get(definition.role("nhs_number"))
        if isinstance(name, str) and name:
            parts.append(name)
        if isinstance(nhs, str) and nhs:
            parts.append(values.nhs_to_text(nhs))
        self.title.setText("  ·  ".join(parts))
        # The window title can show in task switchers and screen shares: no patient details.
        self.setWindowTitle(f"{parts[0]} – flsdesk")
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

    def _show_panel(self, evaluation: Evaluation) -> None:
        definition = evaluation.definition
        questions = definition.questions
        problems = [
            (m.question, m.severity, m.text, m.other_record)
            for bucket in (evaluation.errors, evaluation.warnings)
            for messages in bucket.values()
            for m in messages
        ]
        state = (tuple(evaluation.missing_lite), tuple(problems))
        if state == self._panel_state:
            return
        self._panel_state = state
        tab_labels = {t.id: t.label for t in definition.tabs}

        self.missing.clear()
        current_tab = None
        for key in evaluation.missing_lite:
            q = questions[key]
            if q.tab != current_tab:  # a heading per tab, so the list reads like the form
                current_tab = q.tab
                heading = QListWidgetItem(tab_labels.get(q.tab, q.tab))
                heading.setFlags(Qt.ItemFlag.NoItemFlags)
                font = heading.font()
                font.setBold(True)
                heading.setFont(font)
                heading.setForeground(QColor("#5f6368"))
                self.missing.addItem(heading)
            item = QListWidgetItem(f"{key}  {q.label}")
            item.setData(_KEY_ROLE, key)
            item.setToolTip("Go to this question")
            self.missing.addItem(item)
        count = len(evaluation.missing_lite)
        self.missing_title.setText(
            "<b>Missing for a complete record</b>"
            + (f" ({count})" if count else "<br>Nothing missing.")
        )

        self.problems.clear()
        errors = sum(1 for p in problems if p[1] == "error")
        for key, severity, text, other in problems:
            q = questions.get(key)
            number = "" if q is None or q.local else f"{key}  "
            label = q.label if q is not None else key
            icon = "✖" if severity == "error" else "⚠"
            item = QListWidgetItem(f"{icon} {number}{label}\n{text}")
            item.setData(_KEY_ROLE, key)
            item.setToolTip(text)
            item.setForeground(QColor(ERROR_COLOUR if severity == "error" else WARNING_COLOUR))
            self.problems.addItem(item)
            if other is not None:
                link = QListWidgetItem(f"    → Open record {other}")
                link.setData(_RECORD_ROLE, other)
                link.setToolTip(f"Open record {other} in its own window")
                self.problems.addItem(link)
        warnings = len(problems) - errors
        if problems:
            summary = f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
            self.problems_title.setText(f"<b>To correct or check</b> ({summary})")
        else:
            self.problems_title.setText("<b>To correct or check</b><br>No errors or warnings.")

    def _panel_item(self, item: QListWidgetItem) -> None:
        other = item.data(_RECORD_ROLE)
        if other is not None:
            self.open_record_requested.emit(int(other))
            return
        key = item.data(_KEY_ROLE)
        if key is not None:
            self.go_to(str(key))

    def go_to(self, key: str) -> None:
        """Show the question's tab, scroll to it and put the cursor in it."""
        assert self._form is not None
        question = self._form_definition.questions.get(key)
        if question is None:
            return
        self._ensure_page(question.tab)
        row = self._form.rows[key]
        page = self._form.pages[question.tab]
        self.tabs.setCurrentWidget(page)
        page.ensureWidgetVisible(row)
        row.input.focus_target.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- saving ----------------------------------------------------------------------------------

    def _save_now(self) -> bool:
        if not self._dirty:
            return True
        if self._read_only or self._busy:
            return False
        self._timer.stop()
        self._busy = True
        try:
            return self._save_pending()
        finally:
            self._busy = False

    def _save_pending(self) -> bool:
        try:
            if self.record_id is None:
                snapshot = dict(self._answers)
                if not any(is_answered(v) for v in snapshot.values()):
                    self._dirty = False  # typed and rubbed out: nothing to create
                    self._set_indicator(_NEW)
                    return True
                self.record_id = self.store.new_record(snapshot)
                log.info("record %d created from the form", self.record_id)
                self._base_version = 1
                self._base_answers = {k: v for k, v in snapshot.items() if is_answered(v)}
                # Evaluate again with the id, so the new record is not its own duplicate.
                evaluation = self.store.evaluate(snapshot, self.record_id)
            else:
                if self._exported and self.edit_reason is None:
                    self.edit_reason = self.ask_edit_reason()
                evaluation = self._save_versioned()
        except Exception as exc:  # any failure must show, and the answers stay pending
            log.error("record %s not saved (%s)", self.record_id, type(exc).__name__)
            self._save_problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._set_indicator(_FAILED)
            self._timer.start(RETRY_MS)
            return False
        self._save_problem = ""
        self._dirty = False
        self._saved_at = datetime.now()
        self._set_indicator(_SAVED)
        self._refresh(evaluation)
        assert self.record_id is not None
        self.saved.emit(self.record_id)
        return True

    def _save_versioned(self) -> Evaluation:
        """Save based on what this window last loaded or saved; take in what others saved
        meanwhile, and let the person choose where both changed the same answer."""
        assert self.record_id is not None and self._base_version is not None
        for _round in range(5):
            result = self.store.save_versioned(
                self.record_id,
                dict(self._answers),
                base_version=self._base_version,
                base_answers=self._base_answers,
                reason=self.edit_reason,
            )
            self._base_version = result.version
            self._base_answers = dict(result.answers)
            keep_mine = self._take_theirs(result)
            if not keep_mine:
                return result.evaluation
            # The person kept their answers over the other ones: save those, based on now.
            for c in result.conflicts:
                if c.question in keep_mine:
                    self._show_answer(c.question, c.mine)
        raise RuntimeError("the record kept changing while it was saved; try again")

    def _take_theirs(self, result: SaveResult) -> set[str]:
        """Show the answers others saved; returns the conflicting questions kept as mine."""
        if result.theirs:
            log.info(
                "record %s: %d answer(s) saved meanwhile by someone else taken in",
                self.record_id,
                len(result.theirs),
            )
        for key in result.theirs:
            self._show_answer(key, result.answers.get(key))
        if not result.conflicts:
            return set()
        choices = self.resolve_conflicts(result.conflicts)
        return {key for key, choice in choices.items() if choice == MINE}

    def _show_answer(self, key: str, value: Any) -> None:
        if is_answered(value):
            self._answers[key] = value
        else:
            self._answers.pop(key, None)
        assert self._form is not None
        row = self._form.rows.get(key)  # a page not built yet shows it when it is built
        if row is not None:
            row.input.set_value(value)

    def resolve_conflicts(self, conflicts: tuple[Conflict, ...]) -> dict[str, str]:
        """Ask, per question changed both here and by someone else, which answer to keep."""
        dialog = ConflictDialog(self._form_definition, conflicts, self)
        dialog.exec()
        return dialog.choices()

    def _ask_edit_reason(self) -> str:
        """Ask why an exported record changes; a person who will not say still keeps the edit."""
        dialog = EditReasonDialog(self)
        dialog.exec()
        return dialog.reason()

    def _set_indicator(self, state: str) -> None:
        colour = "#5f6368"
        if state == _NEW:
            text = "Not saved yet: the record is created when you type"
        elif state == _PENDING:
            text = "Saving…"
        elif state == _SAVED:
            text = f"Saved {self._saved_at:%H:%M:%S}" if self._saved_at else "Saved"
            colour = "#2e7d32"
        elif state == _FAILED:
            text = f"Not saved: {self._save_problem}"
            colour = ERROR_COLOUR
        elif state == _ON_LEAVING:
            text = "Saved when you leave the field"
        else:
            text = "Deleted record: read only"
        self.indicator.setText(text)
        self.indicator.setStyleSheet(f"color: {colour};")
        if state == _READ_ONLY:
            self.banner.setText(
                "This record is deleted. Restore it from Deleted records to change it."
            )
            self.banner.show()

    # -- keyboard and closing --------------------------------------------------------------------

    def _focus_first(self, page: QWidget) -> None:
        for row in getattr(page, "rows", []):
            if self._applies.get(row.question.key, True):
                row.input.focus_target.setFocus(Qt.FocusReason.TabFocusReason)
                return

    def _step_tab(self, step: int) -> None:
        count = self.tabs.count()
        if count:
            index = (self.tabs.currentIndex() + step) % count
            page = self.tabs.widget(index)
            if isinstance(page, TabPage):
                self._ensure_page(page.tab.id)  # built before it shows: no flicker
            self.tabs.setCurrentIndex(index)
            self._focus_first(self.tabs.currentWidget())

    def _tab_changed(self, index: int) -> None:
        page = self.tabs.widget(index)
        if self._form is not None and isinstance(page, TabPage):
            self._ensure_page(page.tab.id)  # a click on a tab not built yet
        # Leaving a tab is leaving its fields: save what is pending.
        if self._dirty:
            self._save_now()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.flush():
            answer = QMessageBox.warning(
                self,
                "Not saved",
                f"The last changes could not be saved:\n{self._save_problem}\n\n"
                "Close anyway and lose them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            log.warning("record %s closed with unsaved changes", self.record_id)
        self._timer.stop()
        self._builder.stop()
        log.info("record %s closed", self.record_id)
        event.accept()


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
