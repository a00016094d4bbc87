"""Deletion as the webtool does it: a reason, 30 days in the deleted view, then a purge."""

from __future__ import annotations

import pytest
import sqlalchemy
from sqlalchemy import func, select

from flsdesk.store.audit import audit_table
from flsdesk.store.records import DELETE_REASONS, RecordNotFound
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)

NHS = nhs_number(943476591)


def test_the_reasons_are_the_webtools() -> None:
    assert DELETE_REASONS == (
        "Duplicate",
        "Not an FLS patient",
        "Patients age less than 50",
        "Test record",
        "Other",
    )


def test_other_needs_a_note_and_unknown_reasons_are_refused(store: Store) -> None:
    rid = store.new_record(complete_answers(NHS))
    with pytest.raises(ValueError, match="'Other' needs a note"):
        store.delete(rid, "Other")
    with pytest.raises(ValueError, match="'Other' needs a note"):
        store.delete(rid, "Other", "   ")
    with pytest.raises(ValueError, match="not a deletion reason"):
        store.delete(rid, "Because")
    assert store.load(rid).deleted_at is None
    store.delete(rid, "Other", "  seen twice  ")
    assert store.load(rid).deleted_note == "seen twice"
    with pytest.raises(ValueError, match="already deleted"):
        store.delete(rid, "Duplicate")
    with pytest.raises(ValueError, match="restore it"):
        store.save(rid, complete_answers(NHS))


@pytest.mark.parametrize("reason", DELETE_REASONS[:-1])
def test_every_other_reason_needs_no_note(store: Store, reason: str) -> None:
    rid = store.new_record(complete_answers(NHS))
    store.delete(rid, reason)
    assert store.load(rid).deleted_reason == reason


def test_delete_restore_then_purge_after_30_days(paths, clock: FakeClock) -> None:
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        keep = s.new_record(complete_answers(nhs_number(401023456)))
        rid = s.new_record(complete_answers(NHS, name="Purgeable Person"))
        s.save(rid, complete_answers(NHS, name="Purgeable Person", **{"1.03": "Male"}))
        s.delete(rid, "Test record")
        assert s.live_count() == 1
        [gone] = s.deleted_records()
        assert (gone.id, gone.reason, gone.days_left) == (rid, "Test record", 30)

        clock.advance(days=10)
        assert s.deleted_records()[0].days_left == 20
        s.restore(rid)
        assert s.live_count() == 2 and s.deleted_records() == []

        s.delete(rid, "Duplicate")
        clock.advance(days=29, hours=23)
        assert s.deleted_records()[0].days_left == 1
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.load(rid).deleted_at is not None  # not yet: 30 days are not over

    clock.advance(hours=1)
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:  # the start-up purge
        with pytest.raises(RecordNotFound):
            s.load(rid)
        assert s.deleted_records() == []
        assert s.load(keep).answers  # untouched
        [entry] = s.audit_trail(rid)  # the history went with it; the purge is recorded
        assert entry.action == "purge" and entry.reason == "Duplicate"
        assert entry.user == TEST_USER
        assert set(entry.new_value) == {"uuid", "deleted_at"}
        with s.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(audit_table))
        assert total == 1 + 1  # keep's create entry + the purge entry
        with (
            pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"),
            s.engine.begin() as c,
        ):
            c.execute(audit_table.delete().where(audit_table.c.action == "purge"))


def test_restore_is_refused_once_the_30_days_are_over(store: Store, clock: FakeClock) -> None:
    rid = store.new_record(complete_answers(NHS))
    store.delete(rid, "Duplicate")
    clock.advance(days=30)
    assert store.deleted_records()[0].days_left == 0
    with pytest.raises(ValueError, match="can no longer be restored"):
        store.restore(rid)
    assert store.purge_expired() == [rid]
    assert store.purge_expired() == []


def test_restore_of_a_live_record_is_refused(store: Store) -> None:
    rid = store.new_record(complete_answers(NHS))
    with pytest.raises(ValueError, match="not deleted"):
        store.restore(rid)
