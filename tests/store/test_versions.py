"""Record versions: every write bumps it, and a save based on an older version is merged, never
written over another's answers (issue 12.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from flsdesk.exchange import importer
from flsdesk.store.records import SaveConflict, records_table, three_way
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_USER,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    pg_pending,
    store_fixture,
)
from tests.helpers.import_helpers import cells_from_answers, write_csv

NHS_A = nhs_number(943476591)


def _record(store: Store, **extra: object) -> int:
    return store.new_record(complete_answers(NHS_A, **{"6.01": None, **extra}))


def test_every_write_bumps_the_version_and_a_save_that_changes_nothing_does_not(
    store: Store, tmp_path: Path
) -> None:
    rid = _record(store)
    assert store.load(rid).version == 1
    answers = store.load(rid).answers
    store.save(rid, answers)
    assert store.load(rid).version == 1  # nothing changed: nothing written
    store.save(rid, {**answers, "2.01": 165})
    assert store.load(rid).version == 2
    store.delete(rid, "Test record")
    assert store.load(rid).version == 3
    store.restore(rid)
    assert store.load(rid).version == 4


@pg_pending("the importer (flsdesk/exchange)")
def test_an_import_bumps_the_version(store: Store, tmp_path: Path) -> None:
    rid = _record(store)
    cells = cells_from_answers(store.load(rid).answers) | {"1.05": "Yes"}
    plan = importer.read_plan(store, write_csv(tmp_path, [cells]))
    assert [r.outcome for r in plan.rows] == [importer.UPDATED]
    importer.apply(store, plan)
    assert store.load(rid).version == 2


def test_a_stale_save_merges_questions_changed_on_one_side(store: Store, clock: FakeClock) -> None:
    # The scenario of issue 12.1 at the store: two copies loaded at version 1, the second
    # records the 16-week follow-up, then the first (stale) changes the height.
    rid = _record(store)
    first = store.load(rid)
    second = store.load(rid)
    clock.advance(minutes=1)
    mine = {**second.answers, "6.01": "Yes", "6.02": "2024-05-01"}
    done = store.save_versioned(rid, mine, base_version=second.version, base_answers=second.answers)
    assert done.version == 2 and not done.merged
    clock.advance(minutes=1)
    stale = {**first.answers, "2.01": 165}
    merged = store.save_versioned(
        rid, stale, base_version=first.version, base_answers=first.answers
    )
    assert merged.conflicts == ()
    assert set(merged.theirs) == {"6.01", "6.02"}
    assert merged.version == 3
    after = store.load(rid).answers
    assert (after["6.01"], after["6.02"], after["2.01"]) == ("Yes", "2024-05-01", 165)
    assert merged.answers == after
    changes = [(e.question, e.old_value, e.new_value) for e in store.audit_trail(rid)]
    assert ("2.01", None, 165) in changes
    assert not any(q == "6.01" and new is None for q, _old, new in changes)


def test_a_question_changed_on_both_sides_is_a_conflict_and_not_written(
    store: Store, clock: FakeClock
) -> None:
    rid = _record(store, **{"2.01": 150})
    base = store.load(rid)
    store.user = "CD (other)"
    clock.advance(minutes=3)
    store.save_versioned(
        rid, {**base.answers, "2.01": 160}, base_version=1, base_answers=base.answers
    )
    store.user = TEST_USER
    clock.advance(minutes=2)
    mine = {**base.answers, "2.01": 170, "2.02": 60}
    result = store.save_versioned(rid, mine, base_version=1, base_answers=base.answers)
    [conflict] = result.conflicts
    assert (conflict.question, conflict.mine, conflict.theirs, conflict.base) == (
        "2.01",
        170,
        160,
        150,
    )
    assert conflict.changed_by == "CD (other)"
    assert conflict.changed_at is not None and conflict.changed_at.minute == 3
    stored = store.load(rid).answers
    assert stored["2.01"] == 160  # theirs, until the user chooses
    assert stored["2.02"] == 60  # the rest of the save is written
    # "Keep mine": save again, based on what the conflicting save returned.
    again = store.save_versioned(
        rid, {**mine}, base_version=result.version, base_answers=result.answers
    )
    assert again.conflicts == () and store.load(rid).answers["2.01"] == 170
    heights = [(e.user, e.new_value) for e in store.audit_trail(rid) if e.question == "2.01"]
    assert heights == [("CD (other)", 160), (TEST_USER, 170)]


def test_the_same_change_on_both_sides_is_no_conflict(store: Store) -> None:
    rid = _record(store)
    base = store.load(rid)
    mine = {**base.answers, "6.01": "Yes"}
    store.save_versioned(rid, mine, base_version=1, base_answers=base.answers)
    result = store.save_versioned(rid, mine, base_version=1, base_answers=base.answers)
    assert result.conflicts == () and result.version == 2


def test_the_old_save_api_with_a_stale_base_raises_after_writing_the_rest(store: Store) -> None:
    rid = _record(store, **{"2.01": 150})
    base = store.load(rid)
    store.save(rid, {**base.answers, "2.01": 160}, base_version=1, base_answers=base.answers)
    with pytest.raises(SaveConflict) as caught:
        store.save(
            rid,
            {**base.answers, "2.01": 170, "1.04": "LS1 4AB"},
            base_version=1,
            base_answers=base.answers,
        )
    assert [c.question for c in caught.value.result.conflicts] == ["2.01"]
    assert "2.01" in str(caught.value)
    stored = store.load(rid).answers
    assert (stored["2.01"], stored["1.04"]) == (160, "LS1 4AB")


def test_without_base_answers_a_stale_save_overwrites_nothing_that_differs(store: Store) -> None:
    rid = _record(store)
    base = store.load(rid)
    store.save(rid, {**base.answers, "6.01": "Yes"})
    result = store.save_versioned(
        rid, {**base.answers, "2.01": 165}, base_version=1, base_answers=None
    )
    assert sorted(c.question for c in result.conflicts) == ["2.01", "6.01"]
    assert store.load(rid).answers["6.01"] == "Yes"


def test_a_version_moved_between_read_and_write_is_read_and_merged_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a server database the read takes no write lock: another writer can bump the version
    # between our read and our write. The conditional UPDATE must then match nothing, and the
    # save start again from a fresh read (simulated here inside the transaction, which the
    # retry's rollback undoes).
    rid = _record(store)
    base = store.load(rid)
    real_row = Store._row
    seen: list[int] = []

    def row_then_moved(conn, record_id):  # type: ignore[no-untyped-def]
        row = real_row(conn, record_id)
        seen.append(row.version)
        if len(seen) == 1:
            conn.execute(
                update(records_table)
                .where(records_table.c.id == record_id)
                .values(version=records_table.c.version + 1)
            )
        return row

    monkeypatch.setattr(Store, "_row", staticmethod(row_then_moved))
    result = store.save_versioned(
        rid, {**base.answers, "2.01": 165}, base_version=1, base_answers=base.answers
    )
    assert seen == [1, 1]  # read again after the missed conditional UPDATE
    assert result.version == 2
    assert store.load(rid).answers["2.01"] == 165


def test_three_way_merge_rules() -> None:
    base = {"a": 1, "b": 2, "c": 3, "d": ["x", "y"]}
    mine = {"a": 1, "b": 5, "c": 4, "d": ["y", "x"], "e": "new"}
    theirs = {"a": 9, "b": 2, "c": 7, "d": ["x", "y"]}
    merged, taken, conflicts = three_way(base, mine, theirs)
    assert merged == {"a": 9, "b": 5, "c": 7, "d": ["x", "y"], "e": "new"}
    assert taken == ["a"] and conflicts == ["c"]
    # Cleared on one side only is a change like any other.
    merged, taken, conflicts = three_way({"a": 1}, {}, {"a": 1, "b": 2})
    assert merged == {"b": 2} and taken == ["b"] and conflicts == []


def test_the_check_and_the_write_are_one_immediate_transaction(store: Store) -> None:
    # The version is read after BEGIN IMMEDIATE (on a team database, after the store's advisory
    # lock): no other process or PC can write in between.
    from sqlalchemy import event

    rid = _record(store)
    base = store.load(rid)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split())[:40])

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        store.save_versioned(
            rid, {**base.answers, "2.01": 165}, base_version=1, base_answers=base.answers
        )
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    first = "SELECT pg_advisory_xact_lock(" if store.is_team else "BEGIN IMMEDIATE"
    assert statements[0].startswith(first)
    assert statements[1].startswith("SELECT records.id")
    assert any(s.startswith("UPDATE records") for s in statements)
