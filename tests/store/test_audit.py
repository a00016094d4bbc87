"""The audit trail: one entry for a creation, one per changed question, append-only."""

from __future__ import annotations

import pytest
import sqlalchemy
from sqlalchemy import text

from flsdesk.store.errors import NotAllowed
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_USER,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)

NHS = nhs_number(943476591)


def test_create_writes_one_entry_holding_the_first_values(store: Store) -> None:
    answers = complete_answers(NHS)
    rid = store.new_record(answers)
    [entry] = store.audit_trail(rid)
    assert entry.action == "create"
    assert entry.record_id == rid
    assert entry.user == TEST_USER
    assert entry.question is None and entry.old_value is None
    assert entry.new_value == answers


def test_each_changed_question_gets_its_own_entry_with_old_new_and_reason(
    store: Store, clock: FakeClock
) -> None:
    answers = complete_answers(NHS)
    rid = store.new_record(answers)
    clock.advance(hours=2)
    changed = dict(answers)
    changed["1.03"] = "Male"  # changed
    changed["4.01"] = ["Alendronate", "Denosumab"]  # a list stays a list
    changed["2.05"] = "No"  # newly answered
    del changed["hospital_number"]  # cleared
    store.save(rid, changed, reason="checked against the notes")
    trail = store.audit_trail(rid)
    assert [e.action for e in trail] == ["create"] + ["update"] * 4
    updates = {e.question: (e.old_value, e.new_value) for e in trail[1:]}
    assert updates == {
        "1.03": ("Female", "Male"),
        "2.05": (None, "No"),
        "4.01": (["Alendronate"], ["Alendronate", "Denosumab"]),
        "hospital_number": ("H123456", None),
    }
    assert {e.reason for e in trail[1:]} == {"checked against the notes"}
    assert trail[1].at > trail[0].at
    assert store.load(rid).updated_at == trail[1].at


def test_a_save_that_changes_nothing_writes_no_entry(store: Store, clock: FakeClock) -> None:
    rid = store.new_record(complete_answers(NHS))
    created = store.load(rid).updated_at
    clock.advance(minutes=5)
    store.save(rid, complete_answers(NHS, **{"1.04": ""}))  # "" is the same as absent
    assert len(store.audit_trail(rid)) == 1
    assert store.load(rid).updated_at == created


def test_delete_and_restore_are_audited(store: Store) -> None:
    rid = store.new_record(complete_answers(NHS))
    store.delete(rid, "Other", "entered on the wrong day")
    store.restore(rid)
    trail = store.audit_trail(rid)
    assert [e.action for e in trail] == ["create", "delete", "restore"]
    assert trail[1].reason == "Other" and trail[1].new_value == "entered on the wrong day"


def test_bulk_insert_writes_a_create_entry_per_record(store: Store) -> None:
    ids = store.bulk_insert([complete_answers(nhs_number(100000000 + i * 13)) for i in range(3)])
    for rid in ids:
        assert [e.action for e in store.audit_trail(rid)] == ["create"]


@pytest.mark.parametrize("statement", ["UPDATE audit SET new_value = '\"x\"'", "DELETE FROM audit"])
def test_the_audit_table_refuses_changes(store: Store, statement: str) -> None:
    """SQLite's triggers refuse; on a team database even the admin has no UPDATE right on the
    trail (the server refuses before its trigger would), and DELETE meets the trigger."""
    rid = store.new_record(complete_answers(NHS))
    with (
        pytest.raises(
            (sqlalchemy.exc.DatabaseError, NotAllowed), match=r"append-only|does not have the right"
        ),
        store.engine.begin() as conn,
    ):
        conn.execute(text(statement))
    assert len(store.audit_trail(rid)) == 1
