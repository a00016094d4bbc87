"""Records in a real SQLCipher store: derived columns, duplicates, bulk insert, settings."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from flsdesk.store.errors import NoStore, StoreInUse, WrongKey
from flsdesk.store.records import RecordNotFound, records_table
from flsdesk.store.settings import UPLOAD_TOKEN
from flsdesk.store.store import Store, user_label
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    TODAY,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)

NHS_A = nhs_number(943476591)
NHS_B = nhs_number(401023456)


def _row(s: Store, record_id: int):
    with s.engine.connect() as conn:
        return conn.execute(select(records_table).where(records_table.c.id == record_id)).one()


def test_new_record_round_trip_and_derived_columns(store: Store) -> None:
    answers = complete_answers(NHS_A, **{"1.12": "Hip"})
    rid = store.new_record(answers)
    loaded = store.load(rid)
    assert loaded.answers == answers
    assert loaded.status == "Complete"
    assert loaded.created_by == TEST_USER and loaded.updated_by == TEST_USER
    row = _row(store, rid)
    assert row.nhs_number == NHS_A
    assert row.diagnosed == date(2024, 1, 10)
    assert row.date_of_birth == date(1950, 3, 4)
    assert row.gender == "Female"
    assert row.site == "Wrist"
    assert row.name == "Test Patient"
    assert row.hospital_number == "H123456"
    assert row.match_key is not None and NHS_A in row.match_key
    assert (row.status, row.has_errors, row.missing_count) == ("Complete", False, 0)
    assert row.followup_applies and row.fu16_closed and row.fu52_closed
    assert not row.followup_ended
    assert row.bone_therapy == "Alendronate" and row.bone_therapy_drug
    assert row.dataset_id == store.definitions.latest.id
    assert row.evaluated_on == TODAY


def test_unanswered_forms_are_not_stored(store: Store) -> None:
    rid = store.new_record(complete_answers(NHS_A, **{"1.04": "", "2.01": None, "5.10": []}))
    assert not {"1.04", "2.01", "5.10"} & set(store.load(rid).answers)


def test_hidden_answers_are_kept_but_count_as_absent(store: Store) -> None:
    # Informed decline: the follow-up tab does not apply, so 6.01 no longer closes anything.
    answers = complete_answers(NHS_A, **{"4.01": ["Informed decline"]})
    rid = store.new_record(answers)
    assert store.load(rid).answers["6.01"] == "No"  # kept
    row = _row(store, rid)
    assert not row.followup_applies
    assert not row.fu16_closed and not row.fu52_closed
    assert row.bone_therapy == "Informed decline" and not row.bone_therapy_drug


def test_draft_and_error_statuses(store: Store) -> None:
    draft = dict(complete_answers(NHS_A))
    del draft["1.11"]
    rid = store.new_record(draft)
    assert _row(store, rid).status == "Draft"
    assert _row(store, rid).missing_count == 1
    bad = store.new_record(complete_answers("1234567890"))
    assert _row(store, bad).status == "Needs correction"
    assert _row(store, bad).has_errors


def test_multi_answers_summarised_in_definition_order(store: Store) -> None:
    rid = store.new_record(complete_answers(NHS_A, **{"4.01": ["Denosumab", "Alendronate"]}))
    assert _row(store, rid).bone_therapy == "Alendronate;Denosumab"


def test_duplicate_key_flags_both_records_and_names_the_other(store: Store) -> None:
    first = store.new_record(complete_answers(NHS_A))
    second = store.new_record(complete_answers(NHS_A, name="Someone Else"))
    # Both kept, both Needs correction: never a refused save.
    for rid in (first, second):
        assert _row(store, rid).status == "Needs correction"
        assert _row(store, rid).has_errors
    ev = store.evaluate(store.load(first).answers, first)
    others = [m.other_record for m in ev.all_messages() if m.check == "duplicate_key"]
    assert others == [second]
    ev = store.evaluate(store.load(second).answers, second)
    assert [m.other_record for m in ev.all_messages() if m.check == "duplicate_key"] == [first]
    pairs = store.possible_duplicates()
    assert [(p.first, p.second) for p in pairs] == [(first, second)]

    # Deleting one as a Duplicate clears the other at once.
    store.delete(second, "Duplicate")
    assert _row(store, first).status == "Complete"
    assert store.possible_duplicates() == []
    # …and restoring it brings the clash back on both.
    store.restore(second)
    assert _row(store, first).status == "Needs correction"
    assert _row(store, second).status == "Needs correction"


def test_changing_a_key_re_evaluates_the_records_sharing_old_and_new_key(store: Store) -> None:
    a = store.new_record(complete_answers(NHS_A))
    b = store.new_record(complete_answers(NHS_A))
    c = store.new_record(complete_answers(NHS_B))
    assert _row(store, a).has_errors and not _row(store, c).has_errors
    # b moves from A's key to C's key: A is cleared, C becomes a duplicate.
    store.save(b, complete_answers(NHS_B), reason="wrong patient")
    assert not _row(store, a).has_errors
    assert _row(store, b).has_errors and _row(store, c).has_errors
    # A date correction (a different key) clears both.
    store.save(b, complete_answers(NHS_B, diagnosed=date(2024, 2, 1)))
    assert not _row(store, b).has_errors and not _row(store, c).has_errors


def test_overseas_patients_match_on_the_fallback_keys(store: Store) -> None:
    a = store.new_record(complete_answers("OVERSEAS"))
    other_dob = store.new_record(complete_answers("OVERSEAS", **{"1.02": "1951-01-01"}))
    assert not _row(store, a).has_errors and not _row(store, other_dob).has_errors
    same = store.new_record(complete_answers("OVERSEAS"))
    assert _row(store, a).has_errors and _row(store, same).has_errors
    assert not _row(store, other_dob).has_errors


def test_bulk_insert_flags_duplicates_within_the_batch_and_against_the_store(store: Store) -> None:
    existing = store.new_record(complete_answers(NHS_A))
    ids = store.bulk_insert(
        [
            complete_answers(NHS_B),
            complete_answers(nhs_number(500000000)),
            complete_answers(NHS_B),
            complete_answers(NHS_A),
        ]
    )
    assert len(ids) == 4 and len(set(ids)) == 4 and existing not in ids
    flagged = {rid for rid in [existing, *ids] if _row(store, rid).has_errors}
    assert flagged == {existing, ids[0], ids[2], ids[3]}
    assert len(store.audit_trail(ids[1])) == 1
    assert store.live_count() == 5
    assert store.bulk_insert([]) == []


def test_save_reports_the_evaluation_and_refuses_nothing_typed(store: Store) -> None:
    rid = store.new_record(complete_answers(NHS_A))
    ev = store.save(rid, complete_answers(NHS_A, **{"1.07": "31/02/2024"}))
    assert ev.status == "Needs correction"
    assert store.load(rid).answers["1.07"] == "31/02/2024"


def test_unknown_record(store: Store) -> None:
    with pytest.raises(RecordNotFound):
        store.load(999)
    with pytest.raises(RecordNotFound):
        store.save(999, {})


def test_status_follows_the_calendar_on_reopen(paths, clock: FakeClock) -> None:
    # Diagnosed 100 days ago, follow-up not yet recorded: complete until day 113.
    diagnosed = TODAY - timedelta(days=100)
    answers = complete_answers(NHS_A, diagnosed=diagnosed)
    del answers["6.01"], answers["7.01"]
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        rid = s.new_record(answers)
        assert _row(s, rid).status == "Complete"
    clock.advance(days=20)
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        row = _row(s, rid)
        assert (row.status, row.missing_count) == ("Draft", 1)
        assert row.evaluated_on == TODAY + timedelta(days=20)


def test_settings_round_trip_and_survive_reopening(paths, clock: FakeClock) -> None:
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", "RXX", clock=clock) as s:
        assert s.get_setting("service_name") == "Test FLS"
        assert s.get_setting("org_code") == "RXX"
        assert s.get_setting("idle_lock_minutes", 10) == 10
        s.set_setting("idle_lock_minutes", 5)
        s.set_setting(UPLOAD_TOKEN, "secret-token-value")
        s.set_setting("kpi_caseload", {"annual": 450, "year": 2025})
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.get_setting("idle_lock_minutes") == 5
        assert s.get_setting(UPLOAD_TOKEN) == "secret-token-value"
        assert s.get_setting("kpi_caseload") == {"annual": 450, "year": 2025}
        s.set_setting(UPLOAD_TOKEN, None)
        assert s.get_setting(UPLOAD_TOKEN) is None
    # The token never reaches the file in clear.
    assert b"secret-token-value" not in paths.database.read_bytes()


def test_open_errors(paths, clock: FakeClock) -> None:
    with pytest.raises(NoStore):
        Store.open(paths, TEST_KEY, TEST_USER, clock=clock)
    assert not paths.database.exists()
    with (
        Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock),
        pytest.raises(StoreInUse),
    ):
        Store.open(paths, TEST_KEY, TEST_USER, clock=clock)
    with pytest.raises(WrongKey):
        Store.open(paths, bytes(32), TEST_USER, clock=clock)
    with pytest.raises(FileExistsError):
        Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock)
    # The failures above left the store usable.
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.live_count() == 0


def test_no_patient_data_in_the_log(store: Store, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="flsdesk")
    rid = store.new_record(complete_answers(NHS_A, name="Zebedee Quint"))
    store.save(rid, complete_answers(NHS_A, name="Zebedee Quint", **{"1.03": "Male"}))
    store.new_record(complete_answers(NHS_A))
    store.delete(rid, "Other", "Zebedee asked")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert str(rid) in text
    for secret in (NHS_A, "Zebedee", "1950-03-04", "2024-01-10"):
        assert secret not in text


def test_user_label() -> None:
    assert user_label(" ab ", "jsmith") == "AB (jsmith)"
