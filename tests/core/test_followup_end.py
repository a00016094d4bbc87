"""Ending follow-up completes the record: each reason's implied answers come from the
definition's ``[followup_end]`` (FAQ 24: "No" only when no follow-up is planned), are saved like
any edit (audited), and the patient list says "ended: <reason in words>"."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from flsdesk import followups as fu
from flsdesk.datafiles import DataFileError
from flsdesk.dataset import DefinitionSet, load_definitions, parse_definition
from flsdesk.followup_end import implied_answers
from flsdesk.paths import AppPaths, bundled_resources
from flsdesk.rules import COMPLETE, DRAFT
from flsdesk.store.store import Store
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

BUNDLED = bundled_resources() / "datasets" / "flsdb-v3.toml"
RAW = tomllib.loads(BUNDLED.read_text(encoding="utf-8"))


def owed(day: int, **extra: Any) -> dict[str, Any]:
    """Lite-complete except the follow-ups, diagnosed ``day`` days before TODAY, on a drug."""
    answers = complete_answers(nhs_number(612345678 + day), TODAY - timedelta(days=day), **extra)
    for key in ("6.01", "7.01"):
        answers.pop(key, None)
    return {k: v for k, v in answers.items() if v is not None}


def test_ending_follow_up_answers_both_follow_ups_no_and_completes_the_record(
    store: Store,
) -> None:
    rid = store.new_record(owed(400))
    before = store.load(rid)
    assert before.status == DRAFT
    assert set(store.evaluate(before.answers, rid).missing_lite) == {"6.01", "7.01"}

    ev = fu.end_followup(store, rid, "Moved away", TODAY)

    assert ev.status == COMPLETE and not ev.missing_lite
    after = store.load(rid)
    assert after.status == COMPLETE
    assert after.answers["6.01"] == "No" and after.answers["7.01"] == "No"
    assert after.answers["followup_ended_reason"] == "Moved away"
    # Audited like any change: one entry per question, each with the same reason.
    changed = {
        item.question: (item.old_value, item.new_value, item.reason)
        for item in store.audit_trail(rid)
        if item.reason == "Follow-up ended"
    }
    assert changed["6.01"] == (None, "No", "Follow-up ended")
    assert changed["7.01"] == (None, "No", "Follow-up ended")
    assert changed["followup_ended_reason"][1] == "Moved away"


def test_an_answer_already_given_is_never_replaced(store: Store) -> None:
    done = {
        "6.01": "Yes",
        "6.02": (TODAY - timedelta(days=300)).isoformat(),
        "6.05": "Alendronate",
        "6.06": "Yes",
    }
    rid = store.new_record({**owed(400), **done})
    assert store.load(rid).status == DRAFT  # 7.01 is owed

    fu.end_followup(store, rid, "Died", TODAY)

    answers = store.load(rid).answers
    assert answers["6.01"] == "Yes" and answers["6.02"] == done["6.02"]
    assert answers["7.01"] == "No"
    assert store.load(rid).status == COMPLETE
    questions = {i.question for i in store.audit_trail(rid) if i.reason == "Follow-up ended"}
    assert "6.01" not in questions and "7.01" in questions


def test_ending_early_answers_what_will_not_happen(store: Store) -> None:
    """Ended at day 60: neither follow-up will happen, though neither is required yet."""
    rid = store.new_record(owed(60))
    assert store.load(rid).status == COMPLETE  # 6.01 is required only from day 113
    fu.end_followup(store, rid, "Declined", TODAY)
    answers = store.load(rid).answers
    assert (answers["6.01"], answers["7.01"]) == ("No", "No")
    # The webtool gets the answers too: 6.01 "No" is what FAQ 24 asks for.
    assert store.evaluate(answers, rid).effective["6.01"] == "No"


def test_nothing_is_implied_where_the_follow_up_tab_does_not_apply(store: Store) -> None:
    rid = store.new_record(owed(400, **{"4.01": ["Inappropriate"]}))
    fu.end_followup(store, rid, "Moved away", TODAY)
    answers = store.load(rid).answers
    assert "6.01" not in answers and "7.01" not in answers
    assert answers["followup_ended_reason"] == "Moved away"


def test_what_a_reason_implies_is_data(paths: AppPaths, clock: FakeClock) -> None:
    """Change the file, not the code: "Discharged to GP" here leaves 7.01 to the nurse."""
    data = copy.deepcopy(RAW)
    data["followup_end"]["reasons"]["Discharged to GP"] = {
        "words": "with the GP",
        "answers": {"6.01": "No"},
    }
    definitions = DefinitionSet([parse_definition(data, Path("/service/flsdb-v3.toml"))])
    with Store.create(
        paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock, definitions=definitions
    ) as s:
        rid = s.new_record(owed(400))
        fu.end_followup(s, rid, "Discharged to GP", TODAY)
        answers = s.load(rid).answers
        assert answers["6.01"] == "No" and "7.01" not in answers
        assert s.load(rid).status == DRAFT
        found = fu.list_followups(s.engine, s.definitions, [rid], TODAY)
        assert found[rid].text == "ended: with the GP"


def test_implied_answers_reread_applicability() -> None:
    definition = load_definitions().latest
    answers = owed(400)
    assert implied_answers(definition, answers, "Moved away", TODAY) == {
        "6.01": "No",
        "7.01": "No",
    }
    assert implied_answers(definition, answers, "No such reason", TODAY) == {}
    hidden = {**answers, "4.01": ["Don't know"], "6.01": "Yes"}  # a kept, hidden answer
    assert implied_answers(definition, hidden, "Moved away", TODAY) == {}


# ---------------------------------------------------------------------------------------------
# The patient list's "Next follow-up" column
# ---------------------------------------------------------------------------------------------


def test_the_list_says_why_follow_up_ended(store: Store) -> None:
    ended = store.new_record(owed(200))
    gp = store.new_record(owed(210))
    owing = store.new_record(owed(200))
    no_followup = store.new_record(owed(200, **{"4.01": ["Inappropriate"]}))
    fu.end_followup(store, ended, "Moved away", TODAY)
    fu.end_followup(store, gp, "Discharged to GP", TODAY)

    found = fu.list_followups(
        store.engine, store.definitions, [ended, gp, owing, no_followup], TODAY
    )

    assert found[ended].text == "ended: moved away"
    assert found[gp].text == "ended: discharged to GP"  # the words are the definition's
    opens = TODAY - timedelta(days=200) + timedelta(days=84)
    assert found[owing].text == f"16-week from {opens:%d/%m/%Y} (overdue)"
    assert no_followup not in found
    store.delete(ended, "Test record")
    assert ended not in fu.list_followups(store.engine, store.definitions, [ended], TODAY)


# ---------------------------------------------------------------------------------------------
# Loading [followup_end]: every mistake named
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasons", "fragment"),
    [
        ({"Bored": {"answers": {"7.01": "No"}}}, "reason 'Bored': is not an answer of"),
        ({"Died": {"answers": {"9.99": "No"}}}, "names question 9.99, which does not exist"),
        ({"Died": {"answers": {"7.01": "Maybe"}}}, "'Maybe' is not an answer of question 7.01"),
        ({"Died": {"answers": {"4.01": "Alendronate"}}}, "4.01 is not a single-answer"),
        ({"Died": {"answers": {"name": "x"}}}, "name is a local field"),
        ({"Died": {"words": 3}}, "'words' must be text"),
        ({"Died": {"sets": {}}}, "unknown key 'sets'"),
        ({"Died": "No"}, "reason 'Died': must be a table"),
    ],
)
def test_a_bad_followup_end_is_refused(reasons: dict[str, Any], fragment: str) -> None:
    data = copy.deepcopy(RAW)
    data["followup_end"]["reasons"] = reasons
    with pytest.raises(DataFileError) as info:
        parse_definition(data, Path("/service/mine.toml"))
    assert fragment in str(info.value)
    assert str(info.value).startswith("mine.toml: followup_end")


def test_no_question_number_in_the_code() -> None:
    source = Path(fu.__file__).with_name("followup_end.py").read_text(encoding="utf-8")
    for literal in ('"6.01"', '"7.01"', '"Moved away"', '"moved away"'):
        assert literal not in source


# ---------------------------------------------------------------------------------------------
# A store re-evaluates its records when the definition files change
# ---------------------------------------------------------------------------------------------


def test_records_follow_changed_definition_files(paths: AppPaths, clock: FakeClock) -> None:
    old = copy.deepcopy(RAW)
    # As before this change: 3.04 only after a DXA ordered now.
    for q in old["questions"]:
        if q["number"] == "3.04":
            q["applies_when"] = {"question": "3.01", "in": ["Ordered or recommended"]}
    old_set = DefinitionSet([parse_definition(old, BUNDLED)])
    answers = complete_answers(
        nhs_number(623456789), date(2024, 3, 1), **{"3.01": "Already had a recent DXA"}
    )
    answers["3.04"] = -9.5  # out of range, but hidden under the old rule
    with Store.create(
        paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock, definitions=old_set
    ) as s:
        rid = s.new_record(answers)
        assert s.load(rid).status == COMPLETE
        assert not s.rederive_due()  # made with old_set: its fingerprint is stored

    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        # The bundled files: 3.04 now applies and its value is out of range.
        assert s.load(rid).status == "Needs correction"
        assert not s.rederive_due()
        assert s.rederived is not None and s.rederived.changed_status == 1
        audit_entries = len(s.audit_trail(rid))
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is None and s.rederive() is None  # nothing changed since
        assert len(s.audit_trail(rid)) == audit_entries  # re-deriving is not an edit


def test_a_2023_record_moves_to_the_earlier_dataset_on_open(
    paths: AppPaths, clock: FakeClock
) -> None:
    only_v3 = DefinitionSet([parse_definition(copy.deepcopy(RAW), BUNDLED)])
    with Store.create(
        paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock, definitions=only_v3
    ) as s:
        rid = s.new_record(complete_answers(nhs_number(634567890), date(2023, 5, 1)))
        assert s.load(rid).dataset_id == "flsdb-v3"
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.load(rid).dataset_id == "flsdb-v3-before-2024"
