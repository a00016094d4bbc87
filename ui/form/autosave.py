"""When a record window saves, what it says about it, and how a save meets someone else's.

``Autosave`` is the state machine behind the "Saved 10:42:07" indicator: a change makes the
record dirty and starts a short timer (or, for a record already sent to the FLS-DB, waits until
the person leaves the field); a failed save keeps the answers pending and retries. It does not
know what a save is: the window hands it a function, so the states can be tested with a fake.

``VersionedSave`` is what that function does for a record that exists: it states the version
this window last loaded or saved, takes in what others saved meanwhile, hands a clash to the
person, and asks once per opening for the reason a sent record changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from flsdesk.rules import Evaluation
from flsdesk.store.records import Conflict, SaveResult
from flsdesk.store.store import Store
from flsdesk_ui.form import unsaved
from flsdesk_ui.form.conflict import MINE

log = logging.getLogger("ui.form")

AUTOSAVE_MS = 600  # a pause in typing this long saves: well within the promised second
RETRY_MS = 5000  # after a failed save, try again this often (the indicator says why)

# The states the indicator shows.
NEW, PENDING, SAVED, FAILED, READ_ONLY = "new", "pending", "saved", "failed", "read-only"
VIEW_ONLY = "view-only"  # the person's role may read records, not change them
UNREACHABLE = "unreachable"  # the team database went away: kept, and tried again
ON_LEAVING = "on-leaving"


class Autosave(QObject):
    """Dirty → saving → saved or not saved, with the timer that gets there.

    ``save`` does the store work: it returns what was saved (handed to ``on_saved``), or None
    when there turned out to be nothing to save (a new record typed and rubbed out); it raises
    when the save failed.
    """

    state_changed = Signal(str)

    def __init__(
        self,
        save: Callable[[], object | None],
        on_saved: Callable[[object], None],
        *,
        state: str,
        dirty: bool = False,
        on_leaving_only: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._save = save
        self._on_saved = on_saved
        self._state = state
        self._read_only = state in (READ_ONLY, VIEW_ONLY)
        self._dirty = dirty
        # A sent record is saved when the person leaves the field: a half-typed value must not
        # become a "correction" of its own, nor the reason be asked mid-typing.
        self._on_leaving_only = on_leaving_only
        # A save (with its reason or conflict dialog) is under way: focus moving to the dialog
        # or the timer must not start another one.
        self._busy = False
        self.problem = ""
        # Tries in a row that found the server away; the wait before the next one grows with it.
        self.unreachable_tries = 0
        self.retry_ms = RETRY_MS
        self.saved_at: datetime | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._timed_out)
        if dirty:
            self.timer.start(AUTOSAVE_MS)

    @property
    def state(self) -> str:
        return self._state

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def busy(self) -> bool:
        return self._busy

    def changed(self) -> None:
        """The person changed an answer."""
        if self._read_only:
            return
        self._dirty = True
        if self.unreachable_tries and self.timer.isActive():
            # The server is away: the next try comes with the back-off, not with every
            # keystroke (each try against a server gone quiet waits for its timeout).
            self._set_state(UNREACHABLE)
            return
        if self._on_leaving_only:
            self._set_state(ON_LEAVING)
        else:
            self._set_state(PENDING)
            self.timer.start(AUTOSAVE_MS)

    def leave(self) -> None:
        """The person left a field, a tab, or pressed Enter: save what is pending."""
        if self.unreachable_tries and self.timer.isActive():
            return  # the back-off's try comes soon; Ctrl+S tries at once
        if self._dirty:
            self.save_now()

    def save_requested(self) -> None:
        """Ctrl+S."""
        if not self._dirty and self._state == SAVED:
            self._set_state(SAVED)  # nothing pending: say so truthfully, nothing to write
            return
        self.save_now()

    def save_now(self) -> bool:
        """Save if anything is pending; True when nothing is left unsaved."""
        if not self._dirty:
            return True
        if self._read_only or self._busy:
            return False
        self.timer.stop()
        self._busy = True
        try:
            return self._run_save()
        finally:
            self._busy = False

    def stop(self) -> None:
        self.timer.stop()

    def _run_save(self) -> bool:
        try:
            result = self._save()
        except Exception as exc:  # any failure must show, and the answers stay pending
            if unsaved.is_unreachable(exc):
                self.unreachable_tries += 1
                self.retry_ms = unsaved.retry_delay_ms(self.unreachable_tries)
                self.problem = unsaved.indicator_text(self.retry_ms)
                self.timer.start(self.retry_ms)
                self._set_state(UNREACHABLE)
                return False
            self.unreachable_tries = 0
            self.retry_ms = RETRY_MS
            self.problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._set_state(FAILED)
            self.timer.start(RETRY_MS)
            return False
        if self.unreachable_tries:
            log.info("saved again after %d tries with the server away", self.unreachable_tries)
        self.unreachable_tries = 0
        self.retry_ms = RETRY_MS
        self._dirty = False
        if result is None:
            self._set_state(NEW)
            return True
        self.problem = ""
        self.saved_at = datetime.now()
        self._set_state(SAVED)
        self._on_saved(result)
        return True

    def _timed_out(self) -> None:
        if self._on_leaving_only and not self.problem:
            return  # saved on leaving the field (only a retry after a failure runs from here)
        self.save_now()

    def _set_state(self, state: str) -> None:
        self._state = state
        self.state_changed.emit(state)


class VersionedSave:
    """Saves an existing record based on what this window last loaded or saved."""

    def __init__(
        self,
        store: Store,
        *,
        exported: bool,
        ask_reason: Callable[[], str],
        resolve: Callable[[tuple[Conflict, ...]], dict[str, str]],
        show_answer: Callable[[str, Any], None],
    ) -> None:
        self.store = store
        # Once a record has gone to the FLS-DB, every later change carries a reason in the
        # audit trail; it is asked once per opening of the form.
        self.exported = exported
        self.edit_reason: str | None = None
        self.ask_edit_reason = ask_reason
        self._resolve = resolve
        self._show_answer = show_answer
        # What the last load or save of this window stored: every save states it, so that a
        # save after someone else's (another window, an import) merges instead of overwriting.
        self.base_version: int | None = None
        self.base_answers: dict[str, Any] = {}

    def based_on(self, version: int, answers: dict[str, Any]) -> None:
        self.base_version = version
        self.base_answers = dict(answers)

    def save(self, record_id: int, answers: Callable[[], dict[str, Any]]) -> Evaluation:
        """Save; take in what others saved meanwhile, and let the person choose where both
        changed the same answer. ``answers`` gives the window's answers as they are now."""
        assert self.base_version is not None
        if self.exported and self.edit_reason is None:
            self.edit_reason = self.ask_edit_reason()
        for _round in range(5):
            result = self.store.save_versioned(
                record_id,
                answers(),
                base_version=self.base_version,
                base_answers=self.base_answers,
                reason=self.edit_reason,
            )
            self.based_on(result.version, result.answers)
            keep_mine = self._take_theirs(record_id, result)
            if not keep_mine:
                return result.evaluation
            # The person kept their answers over the other ones: save those, based on now.
            for c in result.conflicts:
                if c.question in keep_mine:
                    self._show_answer(c.question, c.mine)
        raise RuntimeError("the record kept changing while it was saved; try again")

    def _take_theirs(self, record_id: int, result: SaveResult) -> set[str]:
        """Show the answers others saved; returns the conflicting questions kept as mine."""
        if result.theirs:
            log.info(
                "record %s: %d answer(s) saved meanwhile by someone else taken in",
                record_id,
                len(result.theirs),
            )
        for key in result.theirs:
            self._show_answer(key, result.answers.get(key))
        if not result.conflicts:
            return set()
        choices = self._resolve(result.conflicts)
        return {key for key, choice in choices.items() if choice == MINE}
