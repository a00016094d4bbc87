"""The record window: one record's form, live rules, and saving that never loses a field.

Data flows one way: an edit updates the answers held here → the store's rules evaluate them
(``Store.evaluate``, duplicate checks included) → the rows show or hide and show their messages →
the store saves (``Store.new_record`` / ``Store.save``) within a second, or at once when the person
leaves the field, presses Enter or Ctrl+S. Hidden answers stay in the answers saved; the rules
ignore them, the store keeps them.

The window puts the pieces together: when to save and what the indicator says is
``autosave.py``, the top of the window ``header.py``, the missing/to-correct lists
``side_panel.py``; the window keeps the rows, the answers and the keyboard.

Only record ids and question numbers are logged, never an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from flsdesk.dataset import Definition
from flsdesk.exchange.export import was_exported
from flsdesk.hidden_notes import hidden_notes
from flsdesk.rules import Evaluation, is_answered
from flsdesk.store.records import Conflict
from flsdesk.store.store import Store
from flsdesk_ui.form import call_history
from flsdesk_ui.form.autosave import (
    AUTOSAVE_MS,
    NEW,
    READ_ONLY,
    RETRY_MS,
    SAVED,
    VIEW_ONLY,
    Autosave,
    VersionedSave,
)
from flsdesk_ui.form.builder import BuiltForm, QuestionRow, TabPage, build_form
from flsdesk_ui.form.conflict import ConflictDialog
from flsdesk_ui.form.header import RecordHeader
from flsdesk_ui.form.reason import EditReasonDialog
from flsdesk_ui.form.side_panel import SidePanel

log = logging.getLogger("ui.form")

__all__ = ["AUTOSAVE_MS", "RETRY_MS", "RecordWindow"]

SIDE_WIDTH = 290
NARROW_SIDE_WIDTH = 230  # below WIDE_WINDOW the side panel gives the form room
WIDE_WINDOW = 1180
TALL_WINDOW = 800
# What a window frame and title bar take beyond the client area (availableGeometry counts them).
_FRAME_ALLOWANCE = (16, 40)
# The tabs not in view are built this long after the form first shows (one per event-loop turn),
# so the form appears at once and a key pressed meanwhile waits a few milliseconds at most.
BACKGROUND_BUILD_MS = 30


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
        # Once a record has gone to the FLS-DB, every later change carries a reason in the
        # audit trail; it is asked once per opening of the form, when the person first leaves a
        # changed field (never by the autosave timer, mid-typing).
        self._exported = False
        self._versions = VersionedSave(
            store,
            exported=False,
            ask_reason=self._ask_edit_reason,
            resolve=lambda conflicts: self.resolve_conflicts(conflicts),
            show_answer=self._show_answer,
        )
        dirty = False
        if record_id is not None:
            record = store.load(record_id)
            self._answers = dict(record.answers)
            self._versions.based_on(record.version, record.answers)
            self._read_only = record.deleted
            self._exported = not record.deleted and was_exported(store, record_id)
            self._versions.exported = self._exported
        # A review user reads records and changes none (the store and the server refuse too).
        self._view_only = not store.role.can_edit
        self._read_only = self._read_only or self._view_only
        if prefill:
            # A new fracture for a known patient: shown at once, but the record is created only
            # when the person changes something (never a record nobody meant to make).
            self._answers.update({k: v for k, v in prefill.items() if is_answered(v)})
            dirty = record_id is not None
        self._autosave = Autosave(
            self._save_record,
            self._after_save,
            state=VIEW_ONLY
            if self._view_only
            else READ_ONLY
            if self._read_only
            else SAVED
            if record_id
            else NEW,
            dirty=dirty,
            on_leaving_only=self._exported,
            parent=self,
        )
        self._applies: dict[str, bool] = {}
        self._stale: set[str] = set()
        self.evaluation: Evaluation | None = None
        self._form: BuiltForm | None = None

        # The other tabs are built just after the form first shows, one per event-loop turn.
        self._builder = QTimer(self)
        self._builder.setSingleShot(True)
        self._builder.timeout.connect(self._build_next_page)

        self._targets: dict[QWidget, QuestionRow] = {}
        self._build_chrome()
        self._build_form(store.definitions.for_answers(self._answers))
        self._refresh()
        self._autosave.state_changed.connect(self._show_save_state)
        self._show_save_state(self._autosave.state)
        if self._exported and not self._view_only:
            self.header.show_banner(
                "This record has been sent to the FLS-DB. A change asks for a short reason, kept "
                "in the audit trail; export it again so the webtool has the correction."
            )
        first = tab if tab in self._form_definition.tabs_by_id else self._form_definition.tabs[0].id
        self.show_tab(first)
        log.info("record %s opened in the form", record_id if record_id is not None else "(new)")

    # -- building --------------------------------------------------------------------------------

    def _build_chrome(self) -> None:
        self._fit_to_screen()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)

        self.header = RecordHeader(self)
        # The names tests and other windows reach for.
        self.title = self.header.title
        self.badge = self.header.badge
        self.indicator = self.header.indicator
        self.version = self.header.version
        self.banner = self.header.banner
        outer.addWidget(self.header)

        body = QHBoxLayout()
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("record_tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(self._tab_changed)
        body.addWidget(self.tabs, 1)

        side = SidePanel(self)
        self.side = side
        side.setFixedWidth(self._side_width())
        side.question_chosen.connect(self.go_to)
        side.record_chosen.connect(self.open_record_requested)
        self.missing_title = side.missing_title
        self.missing = side.missing
        self.problems_title = side.problems_title
        self.problems = side.problems
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
        self.side.reset()
        self.header.show_definition(definition)
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
        return self._autosave.dirty

    @property
    def edit_reason(self) -> str | None:
        """The reason given for changing a record already sent (asked once per opening)."""
        return self._versions.edit_reason

    @edit_reason.setter
    def edit_reason(self, reason: str | None) -> None:
        self._versions.edit_reason = reason

    @property
    def ask_edit_reason(self) -> Callable[[], str]:
        """Asks the person for that reason (tests replace this hook)."""
        return self._versions.ask_edit_reason

    @ask_edit_reason.setter
    def ask_edit_reason(self, ask: Callable[[], str]) -> None:
        self._versions.ask_edit_reason = ask

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
        self._autosave.changed()
        self._refresh()

    def _focus_changed(self, old: QWidget | None, _now: QWidget | None) -> None:
        row = self._targets.get(old) if old is not None else None
        if row is None:
            return
        row.input.left()
        self._autosave.leave()

    def input_committed(self, _key: str) -> None:
        self._autosave.leave()

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
        self._autosave.save_requested()

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
        self.side.show_evaluation(evaluation)
        heading = self.header.show_record(self.record_id, self._answers, evaluation)
        # The window title can show in task switchers and screen shares: no patient details.
        self.setWindowTitle(f"{heading} – flsdesk")

    def _show_hidden_notes(self, evaluation: Evaluation) -> None:
        assert self._form is not None
        notes = hidden_notes(evaluation.definition, evaluation, self.store.today())
        for key, row in self._form.rows.items():
            if row.hidden_note is not None:
                row.hidden_note.setVisible(key in notes)

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
        return self._autosave.save_now()

    def _save_record(self) -> Evaluation | None:
        """What a save is for the autosave: create the record, or save it by version."""
        try:
            if self.record_id is None:
                snapshot = dict(self._answers)
                if not any(is_answered(v) for v in snapshot.values()):
                    return None  # typed and rubbed out: nothing to create
                self.record_id = self.store.new_record(snapshot)
                log.info("record %d created from the form", self.record_id)
                self._versions.based_on(1, {k: v for k, v in snapshot.items() if is_answered(v)})
                # Evaluate again with the id, so the new record is not its own duplicate.
                return self.store.evaluate(snapshot, self.record_id)
            return self._versions.save(self.record_id, lambda: dict(self._answers))
        except Exception as exc:
            log.error("record %s not saved (%s)", self.record_id, type(exc).__name__)
            raise

    def _after_save(self, evaluation: object) -> None:
        assert isinstance(evaluation, Evaluation) and self.record_id is not None
        self._refresh(evaluation)
        self.saved.emit(self.record_id)

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

    def _show_save_state(self, state: str) -> None:
        self.header.show_save_state(state, self._autosave.saved_at, self._autosave.problem)

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
        self._autosave.leave()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.flush():
            answer = QMessageBox.warning(
                self,
                "Not saved",
                f"The last changes could not be saved:\n{self._autosave.problem}\n\n"
                "Close anyway and lose them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            log.warning("record %s closed with unsaved changes", self.record_id)
        self._autosave.stop()
        self._builder.stop()
        log.info("record %s closed", self.record_id)
        event.accept()
