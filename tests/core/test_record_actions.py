"""The record-action rules moved out of the window: what a new fracture copies, and a complete
deletion reason."""

from __future__ import annotations

from flsdesk.record_actions import delete_reason_complete, new_fracture_prefill
from flsdesk.store.records import DELETE_REASON_NEEDING_NOTE, DELETE_REASONS
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)


def test_a_new_fracture_copies_only_what_the_definition_names(store: Store) -> None:
    answers = complete_answers(nhs_number(943476591))
    rid = store.new_record(answers)
    record = store.load(rid)
    copies = set(store.definitions.get(record.dataset_id).new_fracture_copies)
    prefill = new_fracture_prefill(store, rid)
    assert prefill  # the patient's details come along
    assert set(prefill) <= copies
    assert {k: v for k, v in record.answers.items() if k in copies} == prefill
    assert set(record.answers) - copies  # and the fracture's own answers do not
    assert not (set(record.answers) - copies) & set(prefill)


def test_other_needs_a_note_and_the_other_reasons_do_not() -> None:
    plain = next(r for r in DELETE_REASONS if r != DELETE_REASON_NEEDING_NOTE)
    assert delete_reason_complete(plain, None)
    assert not delete_reason_complete(DELETE_REASON_NEEDING_NOTE, "   ")
    assert delete_reason_complete(DELETE_REASON_NEEDING_NOTE, "entered twice by mistake")
    assert not delete_reason_complete(None, "a note")
    assert not delete_reason_complete("Not a reason", "a note")
