"""Every rule of the spec's sections 3 (applicability) and 4 (validation), and the status.

Each rule has a case that passes and one that fails. The rules come from the bundled definition
file; ``today`` is always injected (never the real date). Findings are identified by the check
``id`` of the definition (``Message.check``), so a test does not depend on a message's wording.
"""

from __future__ import annotations

import copy
import tomllib
from datetime import date, timedelta

import pytest

from flsdesk.dataset import Definition, load_definitions, parse_definition
from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION, evaluate

DEFN: Definition = load_definitions().latest
TODAY = date(2025, 6, 1)
DIAGNOSED = date(2025, 1, 5)  # day 147 before TODAY: past the 16-week lite day, not the 52-week

FOLLOWUP_KEYS = [q.key for q in DEFN.questions.values() if q.tab == "followup" and not q.local]
DRUGS = ["Alendronate", "Risedronate", "Ibandronate", "Zoledronate", "Denosumab"]
EXCLUSIVE = [
    "Referred for further clinical opinion",
    "Referred to GP to decide prescription",
    "Informed decline",
    "Inappropriate",
    "Don't know",
]

# An error-free, Complete record: the follow-up tab does not apply (4.01 = Inappropriate).
BASE = {
    "1.01": "9434765919",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.05": "No",
    "1.06": "2025-01-10",
    "1.07": "2025-01-15",
    "1.08": "No",
    "1.09": DIAGNOSED.isoformat(),
    "1.11": "Wrist",
    "3.01": "Already had a recent DXA",
    "4.01": ["Inappropriate"],
    "5.01": "Not assessed",
}


def ev(changes=None, today=TODAY, hooks=None, record_id=None, base=BASE):
    answers = {**base, **(changes or {})}
    return evaluate(DEFN, answers, today, hooks=hooks, record_id=record_id)


def error_checks(e, question):
    return {m.check for m in e.errors.get(question, [])}


def warning_checks(e, question):
    return {m.check for m in e.warnings.get(question, [])}


def all_checks(e):
    return {(m.question, m.check) for m in e.all_messages()}


def followup(**extra):
    """Changes that make the follow-up tab apply, with a 16-week follow-up done."""
    return {"4.01": ["Alendronate"], "6.01": "Yes", "6.02": "2025-04-20", **extra}


def test_base_record_is_complete_and_error_free():
    e = ev()
    assert e.errors == {}
    assert e.warnings == {}
    assert e.missing_lite == []
    assert e.status == COMPLETE


# ---------------------------------------------------------------------------------------------
# Section 3: the Follow-up tab
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "therapy",
    [
        ["Alendronate"],
        ["Alendronate", "Denosumab"],
        ["Systemic Oestrogens"],
        ["Referred for further clinical opinion"],
        ["Referred to GP to decide prescription"],
    ],
)
def test_followup_tab_applies_for_a_drug_or_a_referral(therapy):
    e = ev({"4.01": therapy})
    assert e.tab_applies["followup"] is True
    assert e.applies["6.01"] is True
    assert e.applies["7.01"] is True


@pytest.mark.parametrize("therapy", [["Inappropriate"], ["Don't know"], ["Informed decline"], None])
def test_followup_tab_not_required_otherwise_and_its_answers_count_as_absent(therapy):
    d = DIAGNOSED
    # Day 400: both follow-ups would be lite by now if the tab applied.
    today = d + timedelta(days=400)
    bad_followup = {
        "6.01": "Maybe",  # not offered
        "6.02": "not a date",
        "6.05": "Aspirin",
        "6.06": "Yes",
        "7.01": "Yes",
        "7.02": (d - timedelta(days=3)).isoformat(),  # before 1.09
        "7.06": 99,  # out of range
        "7.07": "Other",
    }
    e = ev({"4.01": therapy, **bad_followup}, today=today)
    assert e.tab_applies["followup"] is False
    for key in FOLLOWUP_KEYS:
        assert e.applies[key] is False, key
        assert key not in e.effective
        assert key not in e.errors and key not in e.warnings
        assert key not in e.missing_lite
    expected = DRAFT if therapy is None else COMPLETE  # 4.01 itself is lite
    assert e.status == expected
    # The same follow-up answers with a drug are seen: errors and missing lite appear.
    seen = ev({"4.01": ["Alendronate"], **bad_followup}, today=today)
    assert seen.tab_applies["followup"] is True
    assert "answer_offered" in error_checks(seen, "6.01")


def test_followup_tab_hides_the_local_followup_fields_too():
    e = ev({"followup_ended_reason": "Died"})
    assert e.applies["followup_ended_reason"] is False
    assert ev({"4.01": ["Zoledronate"], "followup_ended_reason": "Died"}).applies[
        "followup_ended_reason"
    ]


# ---------------------------------------------------------------------------------------------
# Section 3: 6.06 and hip fractures
# ---------------------------------------------------------------------------------------------


def test_6_06_shown_for_a_non_hip_fracture():
    e = ev(followup())
    assert e.applies["6.06"] is True
    assert "6.06" in e.missing_lite


@pytest.mark.parametrize(
    "sites",
    [
        {"1.11": "Hip"},
        {"1.11": "Wrist", "1.12": "Hip"},
        {"1.11": "Wrist", "1.12": "Spine", "1.13": "Hip"},
    ],
)
def test_6_06_hidden_when_any_fracture_site_is_hip(sites):
    e = ev(followup(**sites, **{"6.06": "Maybe"}))
    assert e.applies["6.01"] is True
    assert e.applies["6.06"] is False
    assert "6.06" not in e.effective
    assert "6.06" not in e.missing_lite
    assert "6.06" not in e.errors  # its bad hidden value is not checked


def test_a_hidden_1_13_hip_does_not_hide_6_06():
    # 1.12 unanswered, so 1.13 does not apply: its value Hip counts as absent.
    e = ev(followup(**{"1.11": "Wrist", "1.13": "Hip"}))
    assert e.applies["1.13"] is False
    assert "1.13" not in e.effective
    assert e.applies["6.06"] is True
    assert "6.06" in e.missing_lite


# ---------------------------------------------------------------------------------------------
# Section 3: 4.01's exclusive answers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", EXCLUSIVE)
def test_an_exclusive_answer_alone_is_fine(answer):
    e = ev({"4.01": [answer]})
    assert "4.01" not in e.errors


def test_several_drugs_together_are_fine():
    assert "4.01" not in ev({"4.01": DRUGS}).errors


@pytest.mark.parametrize("answer", EXCLUSIVE)
def test_an_exclusive_answer_with_a_drug_is_an_error(answer):
    e = ev({"4.01": ["Alendronate", answer]})
    assert error_checks(e, "4.01") == {"exclusive_answers"}
    assert e.status == NEEDS_CORRECTION


@pytest.mark.parametrize(
    ("first", "second"), [(a, b) for a in EXCLUSIVE for b in EXCLUSIVE if a < b]
)
def test_two_exclusive_answers_together_are_an_error(first, second):
    e = ev({"4.01": [first, second]})
    assert error_checks(e, "4.01") == {"exclusive_answers"}


# ---------------------------------------------------------------------------------------------
# Section 3: sites, DXA, falls, follow-up sub-questions
# ---------------------------------------------------------------------------------------------


def test_1_12_only_once_1_11_is_answered():
    assert ev({"1.12": "Spine"}).applies["1.12"] is True
    e = ev({"1.11": None, "1.12": "Spine"})
    assert e.applies["1.12"] is False
    assert "1.12" not in e.effective


def test_1_13_only_once_1_12_is_answered():
    assert ev({"1.12": "Spine", "1.13": "Pelvis"}).applies["1.13"] is True
    assert ev({"1.13": "Pelvis"}).applies["1.13"] is False
    # A hidden 1.12 (1.11 unanswered) counts as unanswered: 1.13 goes too.
    e = ev({"1.11": None, "1.12": "Spine", "1.13": "Pelvis"})
    assert e.applies["1.12"] is False
    assert e.applies["1.13"] is False


@pytest.mark.parametrize(
    ("dxa", "shown"),
    [
        ("Not ordered", {"3.02"}),
        ("Ordered or recommended", {"3.03", "3.04", "3.05"}),
        # The recent scan's T-score and fracture risk are what the FLS uses (spec section 3).
        ("Already had a recent DXA", {"3.04", "3.05"}),
        (None, set()),
    ],
)
def test_dxa_questions_follow_3_01(dxa, shown):
    e = ev({"3.01": dxa})
    for key in ("3.02", "3.03", "3.04", "3.05"):
        assert e.applies[key] is (key in shown), key


FALLS_DETAIL = [f"5.{n:02d}" for n in range(2, 11)]


@pytest.mark.parametrize(
    ("falls", "shown"),
    [
        ("Assessed by FLS", True),
        ("Referred for falls assessment", False),
        ("Recommended falls assessment", False),
        ("Not assessed", False),
        (None, False),
    ],
)
def test_falls_detail_only_when_assessed_by_fls(falls, shown):
    e = ev({"5.01": falls, "5.02": "Yes"})
    for key in FALLS_DETAIL:
        assert e.applies[key] is shown, key
    assert ("5.02" in e.effective) is shown


@pytest.mark.parametrize(("answer", "shown"), [("Yes", True), ("No", False), (None, False)])
def test_6_02_to_6_06_only_when_6_01_yes(answer, shown):
    e = ev({"4.01": ["Alendronate"], "6.01": answer})
    for key in ("6.02", "6.03", "6.04", "6.05", "6.06"):
        assert e.applies[key] is shown, key


@pytest.mark.parametrize(("answer", "shown"), [("Yes", True), ("No", False), (None, False)])
def test_7_02_to_7_06_only_when_7_01_yes(answer, shown):
    e = ev({"4.01": ["Alendronate"], "7.01": answer, "7.06": 1})
    for key in ("7.02", "7.03", "7.04", "7.05", "7.06", "7.07"):
        assert e.applies[key] is shown, key


@pytest.mark.parametrize(("count", "shown"), [(0, False), (None, False), (1, True), (20, True)])
def test_7_07_only_when_7_06_above_zero(count, shown):
    e = ev({"4.01": ["Alendronate"], "7.01": "Yes", "7.06": count})
    assert e.applies["7.07"] is shown


# ---------------------------------------------------------------------------------------------
# Section 3: hidden answers count as absent everywhere
# ---------------------------------------------------------------------------------------------


def test_a_hidden_bad_value_is_not_an_error_not_effective_not_missing():
    changes = {
        "3.01": "Not ordered",
        "3.03": "yesterday",  # a bad date, and 3.03 is lite when it applies
        "3.04": 99,  # out of range
        "3.05": "lots",
        "5.03": "Perhaps",  # 5.01 is Not assessed
    }
    answers = {**BASE, **changes}
    kept = copy.deepcopy(answers)
    e = evaluate(DEFN, answers, TODAY)
    for key in ("3.03", "3.04", "3.05", "5.03"):
        assert key not in e.effective
        assert key not in e.errors and key not in e.warnings
        assert key not in e.missing_lite
    assert e.status == COMPLETE
    assert answers == kept  # hidden values are kept by the caller, never deleted
    # Shown again, the same values are errors.
    shown = ev({**changes, "3.01": "Ordered or recommended"})
    assert {"3.03", "3.04", "3.05"} <= set(shown.errors)


def test_a_hidden_date_does_not_take_part_in_date_order_warnings():
    early = (DIAGNOSED - timedelta(days=10)).isoformat()
    hidden = ev({"4.01": ["Alendronate"], "6.01": "No", "6.02": early})
    assert "6.02" not in hidden.warnings
    shown = ev({"4.01": ["Alendronate"], "6.01": "Yes", "6.02": early})
    assert "fu16_after_diagnosis" in warning_checks(shown, "6.02")


# ---------------------------------------------------------------------------------------------
# Section 4: NHS number (the check digit itself is in test_nhs_number.py)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nhs", ["9434765919", "943 476 5919", " 9434765919 ", "OVERSEAS"])
def test_nhs_number_accepted(nhs):
    assert "1.01" not in ev({"1.01": nhs}).errors


@pytest.mark.parametrize(
    "nhs",
    [
        "9434765918",  # wrong check digit (it should be 9)
        "1234567890",  # check digit would be 10: no valid number starts 123456789
        "4444444444",  # ten identical digits (passes the modulus, refused anyway)
        "943476591",  # 9 digits
        "94347659190",  # 11 digits
        "94347659A9",
        "943-476-5919",  # only spaces are tolerated
        9434765919,  # a stored NHS number is text
    ],
)
def test_nhs_number_refused(nhs):
    e = ev({"1.01": nhs})
    assert error_checks(e, "1.01") == {"nhs_number"}
    assert e.status == NEEDS_CORRECTION


@pytest.mark.parametrize("nhs", [["9434765919"], {"nhs": "9434765919"}])
def test_nhs_number_of_the_wrong_type_is_an_error_not_a_crash(nhs):
    e = ev({"1.01": nhs})
    assert error_checks(e, "1.01") == {"nhs_number"}


# ---------------------------------------------------------------------------------------------
# Section 4: 1.01 and 1.09 required
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["1.01", "1.09"])
@pytest.mark.parametrize("empty", [None, ""])
def test_1_01_and_1_09_are_required(key, empty):
    e = ev({key: empty})
    assert "keys_present" in error_checks(e, key)
    # Not yet answered is not a mistake: a Draft (with what is missing), still an error, so
    # held back from export and refused by the import.
    assert e.status == DRAFT and e.has_errors and key in e.missing_lite


def test_required_passes_when_both_present():
    e = ev()
    assert "keys_present" not in {m.check for m in e.all_messages()}


def test_other_lite_question_missing_is_not_an_error():
    e = ev({"1.03": None})
    assert e.errors == {}
    assert e.missing_lite == ["1.03"]


# ---------------------------------------------------------------------------------------------
# Section 4: dates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2025-02-30", "10/01/2025", "yesterday", "2025-1-10", "Patient did not attend"]
)
def test_bad_date_text_is_an_error(text):
    e = ev({"1.06": text})
    assert error_checks(e, "1.06") == {"valid_date"}


def test_iso_week_date_text_is_not_a_date():
    e = ev({"1.06": "2025-W02-1"})
    assert error_checks(e, "1.06") == {"valid_date"}


def test_future_date_is_an_error_with_today_injected():
    answers = {"1.07": "2025-06-02"}
    assert error_checks(ev(answers, today=date(2025, 6, 1)), "1.07") == {"not_future"}
    assert "1.07" not in ev(answers, today=date(2025, 6, 2)).errors  # today itself is fine


@pytest.mark.parametrize("dob", ["2025-01-05", "2025-01-06"])
def test_dob_must_be_before_diagnosis(dob):
    e = ev({"1.02": dob, "1.09": "2025-01-05"})
    assert error_checks(e, "1.02") == {"dob_before_diagnosis"}


@pytest.mark.parametrize(
    ("dob", "diagnosed", "ok"),
    [
        ("1970-03-10", "2020-03-09", False),  # the day before the 50th birthday
        ("1970-03-10", "2020-03-10", True),  # the 50th birthday counts
        ("1968-02-29", "2018-02-28", False),  # born 29 Feb: the birthday is 1 March in 2018
        ("1968-02-29", "2018-03-01", True),
        ("1972-02-29", "2022-02-28", False),
        ("1972-02-29", "2022-03-01", True),
        # 29 Feb 2020 (a leap day) as the date of diagnosis:
        ("1970-03-01", "2020-02-29", False),  # 50 only tomorrow
        ("1970-02-28", "2020-02-29", True),  # 50 since yesterday
        ("1970-02-28", "2020-02-28", True),
        ("1966-01-01", "2016-01-01", True),
        ("1966-01-02", "2016-01-01", False),
    ],
)
def test_age_at_diagnosis_at_least_50(dob, diagnosed, ok):
    e = ev({"1.02": dob, "1.09": diagnosed, "1.06": diagnosed, "1.07": diagnosed})
    if ok:
        assert "1.02" not in e.errors
    else:
        assert error_checks(e, "1.02") == {"age_50"}
        assert "49" in e.errors["1.02"][0].text  # the message gives the age


@pytest.mark.parametrize(("diagnosed", "ok"), [("2015-12-31", False), ("2016-01-01", True)])
def test_diagnosis_from_1_january_2016(diagnosed, ok):
    e = ev({"1.09": diagnosed, "1.06": diagnosed, "1.07": diagnosed})
    assert ("audit_start" in error_checks(e, "1.09")) is not ok
    assert e.status == (COMPLETE if ok else NEEDS_CORRECTION)


def _day(offset):
    return (DIAGNOSED + timedelta(days=offset)).isoformat()


@pytest.mark.parametrize(
    ("changes", "question", "check", "warned"),
    [
        # 1.06 on or after 1.09
        ({"1.06": _day(-1), "1.07": _day(0)}, "1.06", "contact_after_diagnosis", True),
        ({"1.06": _day(0), "1.07": _day(0)}, "1.06", "contact_after_diagnosis", False),
        # 1.07 on or after 1.06
        ({"1.06": _day(5), "1.07": _day(4)}, "1.07", "assessment_after_contact", True),
        ({"1.06": _day(5), "1.07": _day(5)}, "1.07", "assessment_after_contact", False),
        # 3.03 on or after 1.09
        ({"3.01": "Ordered or recommended", "3.03": _day(-1)}, "3.03", "dxa_after_diagnosis", True),
        ({"3.01": "Ordered or recommended", "3.03": _day(0)}, "3.03", "dxa_after_diagnosis", False),
        # 6.02 strictly after 1.09
        (followup(**{"6.02": _day(0)}), "6.02", "fu16_after_diagnosis", True),
        (followup(**{"6.02": _day(1)}), "6.02", "fu16_after_diagnosis", False),
        # 7.02 strictly after 1.09
        (
            {"4.01": ["Alendronate"], "7.01": "Yes", "7.02": _day(0)},
            "7.02",
            "fu52_after_diagnosis",
            True,
        ),
        (
            {"4.01": ["Alendronate"], "7.01": "Yes", "7.02": _day(1)},
            "7.02",
            "fu52_after_diagnosis",
            False,
        ),
        # 7.02 strictly after 6.02
        (followup(**{"7.01": "Yes", "7.02": _day(105)}), "7.02", "fu52_after_fu16", True),
        (followup(**{"7.01": "Yes", "7.02": _day(106)}), "7.02", "fu52_after_fu16", False),
    ],
)
def test_date_order_warnings(changes, question, check, warned):
    e = ev(changes)
    assert (check in warning_checks(e, question)) is warned
    assert question not in e.errors  # a warning, never an error


def test_3_03_patient_did_not_attend_is_accepted():
    e = ev({"3.01": "Ordered or recommended", "3.03": "Patient did not attend"})
    assert "3.03" not in e.errors and "3.03" not in e.warnings
    assert "3.03" in e.effective
    assert e.status == COMPLETE


# ---------------------------------------------------------------------------------------------
# Section 4: numbers
# ---------------------------------------------------------------------------------------------

DXA_ORDERED = {"3.01": "Ordered or recommended", "3.03": _day(3)}
FU52 = {"4.01": ["Alendronate"], "7.01": "Yes", "7.02": _day(100)}
NUMBER_CONTEXT = {"2.01": {}, "2.02": {}, "3.04": DXA_ORDERED, "3.05": DXA_ORDERED, "7.06": FU52}


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("2.01", 100, True),
        ("2.01", 220, True),
        ("2.01", 99.9, False),
        ("2.01", 220.1, False),
        ("2.02", 25, True),
        ("2.02", 250.0, True),
        ("2.02", 24.9, False),
        ("2.02", 250.1, False),
        ("3.04", -6.0, True),
        ("3.04", 4.0, True),
        ("3.04", -2.7, True),
        ("3.04", -6.1, False),
        ("3.04", 4.1, False),
        ("3.05", 0, True),
        ("3.05", 100, True),
        ("3.05", -0.1, False),
        ("3.05", 100.1, False),
        ("7.06", 0, True),
        ("7.06", 20, True),
        ("7.06", -1, False),
        ("7.06", 21, False),
    ],
)
def test_number_ranges(key, value, ok):
    e = ev({**NUMBER_CONTEXT[key], key: value})
    assert e.applies[key]
    if ok:
        assert key not in e.errors
    else:
        assert error_checks(e, key) == {"range"}


def test_range_message_names_the_limits():
    e = ev({**DXA_ORDERED, "3.04": -6.5})
    text = e.errors["3.04"][0].text
    assert "-6.0" in text and "4.0" in text


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("3.04", -2.75, False),
        ("3.04", -2.7, True),
        ("2.01", 165.25, False),
        ("2.01", 165.5, True),
        ("7.06", 1.5, False),
        ("7.06", 2, True),
        ("7.06", 2.0, True),
    ],
)
def test_number_precision(key, value, ok):
    e = ev({**NUMBER_CONTEXT[key], key: value})
    if ok:
        assert key not in e.errors
    else:
        assert error_checks(e, key) == {"precision"}


@pytest.mark.parametrize("value", ["165", float("nan"), float("inf"), True, [165]])
def test_a_number_question_holding_something_else_is_an_error(value):
    e = ev({"2.01": value})
    assert error_checks(e, "2.01") == {"not_a_number"}


def test_a_huge_integer_in_a_number_question_is_an_error_not_a_crash():
    e = ev({"2.01": 10**400})
    assert "2.01" in e.errors


@pytest.mark.parametrize("key", ["1.01", "1.03", "1.04"])
def test_a_gigantic_integer_answer_is_an_error_not_a_crash(key):
    e = ev({key: 10**5000})
    assert key in e.errors


# ---------------------------------------------------------------------------------------------
# Section 4: answers not offered, site Other
# ---------------------------------------------------------------------------------------------


def test_an_answer_not_offered_is_an_error_quoting_the_value():
    e = ev({"1.03": "Femail"})
    assert error_checks(e, "1.03") == {"answer_offered"}
    assert "'Femail'" in e.errors["1.03"][0].text
    assert e.status == NEEDS_CORRECTION


def test_an_offered_answer_is_fine():
    assert "1.03" not in ev({"1.03": "Male"}).errors


def test_a_multi_answer_not_offered_is_an_error_quoting_it():
    e = ev({"4.01": ["Alendronate", "Aspirin"]})
    assert error_checks(e, "4.01") == {"answer_offered"}
    assert "'Aspirin'" in e.errors["4.01"][0].text


@pytest.mark.parametrize("value", [3, True, {"label": "Male"}, ["Male"]])
def test_a_single_answer_of_the_wrong_type_is_an_error(value):
    assert error_checks(ev({"1.03": value}), "1.03") == {"answer_offered"}


@pytest.mark.parametrize("site_key", ["1.11", "1.12", "1.13"])
def test_site_other_is_a_warning(site_key):
    sites = {"1.11": "Wrist", "1.12": "Spine", "1.13": "Pelvis", site_key: "Other"}
    e = ev(sites)
    assert warning_checks(e, site_key) == {"excluded_sites"}
    assert e.status == COMPLETE


def test_no_site_warning_without_other():
    e = ev({"1.11": "Wrist", "1.12": "Spine", "1.13": "Pelvis"})
    assert e.warnings == {}


# ---------------------------------------------------------------------------------------------
# Section 4: duplicate key and re-fracture (through the store's hook interface)
# ---------------------------------------------------------------------------------------------


class FakeHooks:
    """The store's RecordHooks interface, answering from fixed lists and recording the calls."""

    def __init__(self, same=(), earlier=()):
        self.same = list(same)
        self.earlier = list(earlier)
        self.same_calls = []
        self.earlier_calls = []

    def same_key(self, key, record_id):
        self.same_calls.append((key, record_id))
        return self.same

    def earlier_same_patient(self, nhs_number, diagnosed, days, record_id):
        self.earlier_calls.append((nhs_number, diagnosed, days, record_id))
        return self.earlier


def test_duplicate_key_is_an_error_naming_the_other_record():
    hooks = FakeHooks(same=[42])
    e = ev(hooks=hooks, record_id=7)
    assert hooks.same_calls == [("1.01=9434765919|1.09=2025-01-05", 7)]
    assert error_checks(e, "1.01") == {"duplicate_key"}
    message = e.errors["1.01"][0]
    assert message.other_record == 42
    assert "42" in message.text
    assert e.status == NEEDS_CORRECTION


def test_no_duplicate_no_error():
    hooks = FakeHooks(same=[])
    e = ev(hooks=hooks, record_id=7)
    assert hooks.same_calls
    assert e.errors == {}


def test_no_duplicate_check_while_the_key_is_incomplete():
    hooks = FakeHooks(same=[42])
    e = ev({"1.09": None}, hooks=hooks)
    assert hooks.same_calls == []
    assert "duplicate_key" not in {m.check for m in e.all_messages()}


def test_refracture_within_a_year_is_a_warning():
    hooks = FakeHooks(earlier=[3])
    e = ev(hooks=hooks, record_id=7)
    assert hooks.earlier_calls == [("9434765919", DIAGNOSED, 365, 7)]
    assert warning_checks(e, "1.09") == {"refracture_within_year"}
    assert e.warnings["1.09"][0].other_record == 3
    assert e.status == COMPLETE  # a warning never changes the status


def test_no_earlier_record_no_refracture_warning():
    hooks = FakeHooks(earlier=[])
    e = ev(hooks=hooks, record_id=7)
    assert hooks.earlier_calls
    assert e.warnings == {}


def test_overseas_uses_the_fallback_key_and_no_refracture_lookup():
    hooks = FakeHooks(same=[5], earlier=[3])
    e = ev({"1.01": "OVERSEAS"}, hooks=hooks, record_id=1)
    assert e.key == "1.02=1950-03-02|1.03=Female|1.09=2025-01-05"
    assert hooks.same_calls == [(e.key, 1)]
    assert hooks.earlier_calls == []  # OVERSEAS cannot identify a patient
    assert error_checks(e, "1.01") == {"duplicate_key"}


def test_primary_key_and_incomplete_fallback_key():
    assert ev().key == "1.01=9434765919|1.09=2025-01-05"
    assert ev({"1.01": "OVERSEAS", "1.03": None}).key is None


# ---------------------------------------------------------------------------------------------
# Section 4/5: status and lite questions
# ---------------------------------------------------------------------------------------------


def test_status_order_needs_correction_then_draft_then_complete():
    assert ev().status == COMPLETE
    draft = ev({"1.05": None})
    assert draft.status == DRAFT and draft.missing_lite == ["1.05"]
    both = ev({"1.05": None, "1.03": "Femail"})
    assert both.missing_lite == ["1.05"] and both.errors
    assert both.status == NEEDS_CORRECTION


def test_missing_lite_lists_every_unanswered_lite_question_in_form_order():
    e = evaluate(DEFN, {"1.01": "9434765919", "1.09": DIAGNOSED.isoformat()}, TODAY)
    assert e.missing_lite == [
        *("1.02", "1.03", "1.05", "1.06", "1.07", "1.08", "1.11"),
        *("3.01", "4.01", "5.01"),
    ]
    assert e.status == DRAFT


def test_3_03_lite_only_when_dxa_ordered():
    assert "3.03" in ev({"3.01": "Ordered or recommended"}).missing_lite
    assert ev({"3.01": "Ordered or recommended", "3.03": _day(2)}).status == COMPLETE
    assert "3.03" not in ev({"3.01": "Not ordered"}).missing_lite


def _timed(days):
    return {"4.01": ["Alendronate"], "1.06": _day(0), "1.07": _day(0)}, DIAGNOSED + timedelta(days)


@pytest.mark.parametrize(("days", "lite"), [(112, False), (113, True)])
def test_6_01_lite_from_day_113(days, lite):
    changes, today = _timed(days)
    e = ev(changes, today=today)
    assert ("6.01" in e.missing_lite) is lite
    assert e.status == (DRAFT if lite else COMPLETE)


@pytest.mark.parametrize(("days", "lite"), [(392, False), (393, True)])
def test_7_01_lite_from_day_393(days, lite):
    changes, today = _timed(days)
    e = ev({**changes, "6.01": "No"}, today=today)
    assert ("7.01" in e.missing_lite) is lite
    assert e.status == (DRAFT if lite else COMPLETE)


def test_followup_yes_makes_its_lite_questions_required():
    e = ev(
        {"4.01": ["Alendronate"], "6.01": "Yes", "7.01": "Yes"}, today=DIAGNOSED + timedelta(400)
    )
    assert e.missing_lite == ["6.02", "6.05", "6.06", "7.02", "7.05"]
    hip = ev(
        {"4.01": ["Alendronate"], "6.01": "Yes", "1.11": "Hip"}, today=DIAGNOSED + timedelta(200)
    )
    assert hip.missing_lite == ["6.02", "6.05"]


def test_a_fully_followed_up_record_is_complete():
    changes = followup(
        **{
            "6.05": "Alendronate",
            "6.06": "Yes",
            "7.01": "Yes",
            "7.02": _day(370),
            "7.05": "Not started",
        }
    )
    e = ev(changes, today=DIAGNOSED + timedelta(days=400))
    assert e.errors == {} and e.warnings == {}
    assert e.status == COMPLETE


def test_warnings_never_change_the_status():
    complete = ev({"1.11": "Other", "1.06": _day(-2)})
    assert complete.warnings and not complete.errors
    assert complete.status == COMPLETE
    draft = ev({"1.11": "Other", "1.05": None})
    assert draft.warnings
    assert draft.status == DRAFT


# ---------------------------------------------------------------------------------------------
# The rules are data: changing the file changes the behaviour
# ---------------------------------------------------------------------------------------------


def test_a_changed_age_limit_in_the_definition_is_obeyed():
    data = tomllib.loads(DEFN.path.read_text(encoding="utf-8"))
    for check in data["checks"]:
        if check["id"] == "age_50":
            check["years"] = 80
    strict = parse_definition(data, DEFN.path)
    answers = {**BASE}  # aged 74 at diagnosis
    assert "1.02" not in evaluate(DEFN, answers, TODAY).errors
    e = evaluate(strict, answers, TODAY)
    assert error_checks(e, "1.02") == {"age_50"}
    assert "74" in e.errors["1.02"][0].text
