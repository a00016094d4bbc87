"""Why a record is not Complete, in words (issue 12.6): which error, with its question, or what is
missing; and a brand-new empty record is a Draft, not "Needs correction"."""

from __future__ import annotations

from datetime import date

from flsdesk import patient_list as pl
from flsdesk.dataset import load_definitions
from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION, evaluate, problem_summary
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)

DEFN = load_definitions().latest
TODAY = date(2025, 6, 1)
BASE = {
    "1.01": "9434765919",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.05": "No",
    "1.06": "2025-01-10",
    "1.07": "2025-01-15",
    "1.08": "No",
    "1.09": "2025-01-05",
    "1.11": "Wrist",
    "3.01": "Already had a recent DXA",
    "4.01": ["Inappropriate"],
    "5.01": "Not assessed",
}


def _ev(answers):
    return evaluate(DEFN, answers, TODAY)


def test_a_brand_new_empty_record_is_a_draft_with_what_is_missing() -> None:
    e = _ev({})
    assert e.status == DRAFT  # not red: nothing typed is not a mistake
    assert e.has_errors  # still held back from export: no NHS number or date of diagnosis
    text = problem_summary(e)
    nhs, diagnosed = DEFN.questions["1.01"].label, DEFN.questions["1.09"].label
    assert text.startswith(f"Missing: {nhs}, ")
    assert text.endswith(f"Needed before export: {nhs}, {diagnosed}.")


def test_missing_only_lite_answers_lists_them_by_label() -> None:
    e = _ev({k: v for k, v in BASE.items() if k not in ("1.03", "1.05")})
    assert e.status == DRAFT and not e.has_errors
    label_03, label_05 = DEFN.questions["1.03"].label, DEFN.questions["1.05"].label
    assert problem_summary(e) == f"Missing: {label_03}, {label_05}"


def test_a_wrong_check_digit_says_so_with_the_question() -> None:
    e = _ev({**BASE, "1.01": "9434765918"})
    assert e.status == NEEDS_CORRECTION
    text = problem_summary(e)
    assert "not a valid NHS number" in text and "check digit" in text


def test_an_error_other_than_a_missing_key_stays_needs_correction() -> None:
    e = _ev({"1.01": "9434765918"})  # a typo'd NHS number and no date yet
    assert e.status == NEEDS_CORRECTION
    text = problem_summary(e)
    assert "not a valid NHS number" in text and "is needed" in text  # every error, in order
    assert text.index("not a valid NHS number") < text.index("is needed")


def test_labels_come_first_unless_the_message_names_its_question() -> None:
    e = _ev({**BASE, "1.06": "2026-01-01"})  # in the future
    label = DEFN.questions["1.06"].label
    assert f"{label}: This date is in the future." in problem_summary(e)


def test_complete_has_no_summary() -> None:
    e = _ev(BASE)
    assert e.status == COMPLETE and problem_summary(e) == ""


def test_the_patient_list_why_names_the_duplicate(store: Store) -> None:
    first = store.new_record(complete_answers(nhs_number(123456780)))
    twin = store.new_record(complete_answers(nhs_number(123456780)))
    text = pl.why(store, twin)
    assert f"record {first}" in text and "same NHS number and date of diagnosis" in text
    empty = store.new_record({})
    assert store.load(empty).status == DRAFT
    assert pl.why(store, empty).startswith("Missing: " + DEFN.questions["1.01"].label)
