"""The record window's save timing on its own: the autosave state machine with a fake save,
and the versioned save (reason asked once, others' answers taken in, a clash handed over)
against a real store. The window's own tests (test_form*.py) drive the same code through the form.
"""

from __future__ import annotations

from typing import Any

import pytest

from flsdesk.store.records import Conflict
from flsdesk.store.store import Store
from flsdesk_ui.form import autosave
from flsdesk_ui.form.autosave import Autosave, VersionedSave
from flsdesk_ui.form.conflict import MINE


class FakeSave:
    """Stands in for the store: returns ``results`` in turn; an exception in it is raised."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)
        self.calls = 0
        self.saved: list[object] = []
        self.during: list[Any] = []  # run inside a save (as a dialog's focus change would)

    def __call__(self) -> object | None:
        self.calls += 1
        for action in self.during:
            action()
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def on_saved(self, result: object) -> None:
        self.saved.append(result)


def _machine(qtbot, fake: FakeSave, **options: Any) -> tuple[Autosave, list[str]]:  # type: ignore[no-untyped-def]
    machine = Autosave(fake, fake.on_saved, **{"state": autosave.NEW, **options})
    states: list[str] = []
    machine.state_changed.connect(states.append)
    return machine, states


def test_a_change_waits_for_the_pause_then_saves(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave("evaluation 1")
    machine, states = _machine(qtbot, fake)
    machine.changed()
    assert machine.dirty and machine.state == autosave.PENDING
    assert machine.timer.isActive() and machine.timer.interval() == autosave.AUTOSAVE_MS
    assert fake.calls == 0  # nothing written mid-typing

    with qtbot.waitSignal(machine.state_changed, timeout=10_000):
        pass  # the real timer fires
    assert fake.calls == 1
    assert states == [autosave.PENDING, autosave.SAVED]
    assert not machine.dirty and machine.saved_at is not None and machine.problem == ""
    assert fake.saved == ["evaluation 1"]


def test_a_failed_save_keeps_the_change_says_why_and_retries(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave(OSError("disk full\nsecond line never shown"), "evaluation")
    machine, states = _machine(qtbot, fake)
    machine.changed()
    assert machine.save_now() is False
    assert machine.state == autosave.FAILED and machine.problem == "disk full"
    assert machine.dirty and fake.saved == []
    assert machine.timer.isActive() and machine.timer.interval() == autosave.RETRY_MS

    machine.timer.start(1)  # bring the retry forward; the timer itself runs it
    qtbot.waitUntil(lambda: machine.state == autosave.SAVED, timeout=10_000)
    assert fake.calls == 2 and not machine.dirty and machine.problem == ""
    assert states == [autosave.PENDING, autosave.FAILED, autosave.SAVED]


def test_nothing_to_save_goes_back_to_new_without_saved(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave(None)
    machine, states = _machine(qtbot, fake)
    machine.changed()
    assert machine.save_now() is True
    assert states == [autosave.PENDING, autosave.NEW]
    assert not machine.dirty and fake.saved == [] and machine.saved_at is None


def test_nothing_pending_writes_nothing(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave()
    machine, states = _machine(qtbot, fake, state=autosave.SAVED)
    assert machine.save_now() is True
    machine.leave()
    machine.save_requested()  # Ctrl+S: says "saved" again, truthfully, and writes nothing
    assert fake.calls == 0 and states == [autosave.SAVED]

    fresh, fresh_states = _machine(qtbot, fake)  # a new record nobody typed in
    fresh.save_requested()
    assert fake.calls == 0 and fresh_states == [] and fresh.state == autosave.NEW


def test_a_sent_record_saves_only_when_the_field_is_left(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave(RuntimeError("locked"), "evaluation")
    machine, states = _machine(qtbot, fake, state=autosave.SAVED, on_leaving_only=True)
    machine.changed()
    assert machine.state == autosave.ON_LEAVING and not machine.timer.isActive()
    assert fake.calls == 0

    machine.leave()
    assert fake.calls == 1 and machine.state == autosave.FAILED
    # After a failure the timer retries even for a sent record.
    machine.timer.start(1)
    qtbot.waitUntil(lambda: machine.state == autosave.SAVED, timeout=10_000)
    assert fake.calls == 2 and states[-1] == autosave.SAVED


def test_a_read_only_record_never_saves(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave()
    machine, states = _machine(qtbot, fake, state=autosave.READ_ONLY)
    machine.changed()
    machine.leave()
    machine.save_requested()
    assert fake.calls == 0 and not machine.dirty and states == []


def test_a_save_under_way_is_not_started_twice(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave("evaluation")
    machine, _states = _machine(qtbot, fake)
    inner: list[bool] = []
    # A reason or conflict dialog moves the focus: leaving the field must not save again.
    fake.during.append(lambda: inner.append(machine.save_now()))
    machine.changed()
    assert machine.save_now() is True
    assert inner == [False] and fake.calls == 1 and not machine.busy


def test_opened_with_a_change_pending_saves_by_itself(qtbot) -> None:  # type: ignore[no-untyped-def]
    fake = FakeSave("evaluation")
    machine, _states = _machine(qtbot, fake, state=autosave.SAVED, dirty=True)
    assert machine.timer.isActive()
    qtbot.waitUntil(lambda: fake.calls == 1, timeout=10_000)
    assert not machine.dirty and fake.saved == ["evaluation"]


# -- the versioned save -------------------------------------------------------------------------

RECORD = {"1.01": "9434765919", "name": "Margaret Ashworth", "1.03": "Female", "1.11": "Wrist"}


class Screen:
    """What the window would show: answers taken in, and the clashes it was asked about."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = dict(answers)
        self.asked: list[tuple[Conflict, ...]] = []
        self.reasons = 0
        self.choice = MINE

    def show(self, key: str, value: Any) -> None:
        if value is None:
            self.answers.pop(key, None)
        else:
            self.answers[key] = value

    def resolve(self, conflicts: tuple[Conflict, ...]) -> dict[str, str]:
        self.asked.append(conflicts)
        return {c.question: self.choice for c in conflicts}

    def ask(self) -> str:
        self.reasons += 1
        return "typo in the name"


def _versioned(store: Store, record_id: int, screen: Screen, *, exported: bool) -> VersionedSave:
    saver = VersionedSave(
        store,
        exported=exported,
        ask_reason=screen.ask,
        resolve=screen.resolve,
        show_answer=screen.show,
    )
    record = store.load(record_id)
    saver.based_on(record.version, record.answers)
    return saver


@pytest.mark.parametrize("exported", [False, True])
def test_the_reason_is_asked_once_and_only_for_a_sent_record(store: Store, exported: bool) -> None:
    record_id = store.new_record(RECORD)
    screen = Screen(store.load(record_id).answers)
    saver = _versioned(store, record_id, screen, exported=exported)
    for name in ("Margaret Ashwort", "Margaret Ashworth-Smith"):
        screen.answers["name"] = name
        saver.save(record_id, lambda: dict(screen.answers))
    assert screen.reasons == (1 if exported else 0)
    assert saver.edit_reason == ("typo in the name" if exported else None)
    assert store.load(record_id).answers["name"] == "Margaret Ashworth-Smith"
    assert saver.base_version == store.load(record_id).version


def test_others_answers_are_taken_in_and_a_clash_is_handed_over(store: Store) -> None:
    record_id = store.new_record(RECORD)
    screen = Screen(store.load(record_id).answers)
    saver = _versioned(store, record_id, screen, exported=False)
    # Someone else (another window, an import) saves meanwhile: a new answer and the same one.
    theirs = {**store.load(record_id).answers, "1.03": "Male", "name": "M. Ashworth"}
    store.save(record_id, theirs)

    screen.answers["name"] = "Margaret Ashworth-Smith"
    saver.save(record_id, lambda: dict(screen.answers))
    assert screen.answers["1.03"] == "Male"  # taken in, shown
    assert [c.question for c in screen.asked[0]] == ["name"]
    stored = store.load(record_id).answers
    assert stored["name"] == "Margaret Ashworth-Smith" and stored["1.03"] == "Male"
