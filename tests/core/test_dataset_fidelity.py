"""Dataset fidelity (spec sections 3 and 4 as updated): 3.04-3.05 after a recent DXA, the
1.07-before-1.09 warning, the provisional pre-2024 version (a file based on flsdb-v3 that gives
only what differs), per-answer import aliases, and `flsdesk definitions` over both files."""

from __future__ import annotations

import copy
import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flsdesk import cli
from flsdesk.datafiles import DataFileError
from flsdesk.dataset import load_definition, load_definitions, parse_definition
from flsdesk.paths import bundled_resources, resolve
from flsdesk.rules import COMPLETE, NEEDS_CORRECTION, evaluate

DATASETS = bundled_resources() / "datasets"
V3 = DATASETS / "flsdb-v3.toml"
BEFORE_2024 = DATASETS / "flsdb-v3-before-2024.toml"
V3_RAW = tomllib.loads(V3.read_text(encoding="utf-8"))
DELTA_RAW = tomllib.loads(BEFORE_2024.read_text(encoding="utf-8"))
TODAY = date(2025, 6, 2)


def record(diagnosed: date, **changes: Any) -> dict[str, Any]:
    """Error-free and Complete (the follow-up tab does not apply: 4.01 = Inappropriate)."""
    answers: dict[str, Any] = {
        "1.01": "9434765919",
        "1.02": "1950-03-02",
        "1.03": "Female",
        "1.05": "No",
        "1.06": diagnosed.replace(day=diagnosed.day + 2).isoformat(),
        "1.07": diagnosed.replace(day=diagnosed.day + 5).isoformat(),
        "1.08": "No",
        "1.09": diagnosed.isoformat(),
        "1.11": "Wrist",
        "3.01": "Not ordered",
        "4.01": ["Inappropriate"],
        "5.01": "Not assessed",
    }
    answers.update(changes)
    return {k: v for k, v in answers.items() if v is not None}


def evaluate_with_set(answers: dict[str, Any]):  # type: ignore[no-untyped-def]
    definitions = load_definitions()
    return evaluate(definitions.for_answers(answers), answers, TODAY)


# ---------------------------------------------------------------------------------------------
# Section 3: 3.04-3.05 also after "Already had a recent DXA"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("diagnosed", [date(2023, 4, 3), date(2025, 1, 6)])
def test_t_score_and_risk_apply_after_a_recent_dxa(diagnosed: date) -> None:
    e = evaluate_with_set(
        record(diagnosed, **{"3.01": "Already had a recent DXA", "3.04": -2.8, "3.05": 17.5})
    )
    assert e.applies["3.04"] and e.applies["3.05"] and not e.applies["3.03"]
    assert e.effective["3.04"] == -2.8 and e.effective["3.05"] == 17.5
    assert e.status == COMPLETE
    # Applying means checked: an impossible T-score is now an error, not a hidden value.
    bad = evaluate_with_set(record(diagnosed, **{"3.01": "Already had a recent DXA", "3.04": -9}))
    assert bad.status == NEEDS_CORRECTION and {m.check for m in bad.errors["3.04"]} == {"range"}
    # Not after "Not ordered": the value is kept, hidden, and absent everywhere.
    hidden = evaluate_with_set(record(diagnosed, **{"3.04": -9}))
    assert not hidden.applies["3.04"] and "3.04" not in hidden.effective
    assert hidden.status == COMPLETE


# ---------------------------------------------------------------------------------------------
# Section 4: a warning when 1.07 is before 1.09
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assessed", "warned"),
    [("2025-01-05", True), ("2025-01-06", False), ("2025-03-01", False)],
)
def test_assessment_before_diagnosis_is_a_warning(assessed: str, warned: bool) -> None:
    # 1.06 left unanswered: the 1.06 checks cannot catch it on their own.
    e = evaluate_with_set(record(date(2025, 1, 6), **{"1.06": None, "1.07": assessed}))
    checks = {m.check for m in e.warnings.get("1.07", [])}
    assert ("assessment_after_diagnosis" in checks) is warned
    assert not e.errors  # a warning never blocks anything
    if warned:
        (message,) = [m for m in e.warnings["1.07"] if m.check == "assessment_after_diagnosis"]
        assert "before the date of diagnosis" in message.text


# ---------------------------------------------------------------------------------------------
# The pre-2024 version
# ---------------------------------------------------------------------------------------------


def test_the_version_is_chosen_by_the_date_of_diagnosis() -> None:
    definitions = load_definitions()
    assert definitions.for_date(date(2023, 12, 31)).id == "flsdb-v3-before-2024"
    assert definitions.for_date(date(2016, 1, 1)).id == "flsdb-v3-before-2024"
    assert definitions.for_date(date(2024, 1, 1)).id == "flsdb-v3"
    assert definitions.latest.id == "flsdb-v3"


def test_the_pre_2024_file_is_provisional_and_differs_only_in_the_fracture_sites() -> None:
    earlier, v3 = load_definition(BEFORE_2024), load_definition(V3)
    assert earlier.provisional and earlier.provisional_applies_from
    assert earlier.based_on == "flsdb-v3" and not v3.provisional
    differing = [
        key
        for key in v3.questions
        if earlier.questions[key] != v3.questions[key]  # dataclass equality: every attribute
    ]
    assert differing == ["1.11", "1.12", "1.13", "7.07"]  # the questions of the site list
    for key in differing:
        added = {a.label for a in earlier.questions[key].answers} - {
            a.label for a in v3.questions[key].answers
        }
        assert added == {"Non hip/non spine"}
    assert earlier.checks == v3.checks and earlier.tabs == v3.tabs
    assert earlier.followup_windows == v3.followup_windows
    assert earlier.followup_end == v3.followup_end


def test_non_hip_non_spine_is_an_answer_before_2024_only() -> None:
    in_2023 = evaluate_with_set(record(date(2023, 6, 5), **{"1.11": "Non hip/non spine"}))
    assert in_2023.definition.id == "flsdb-v3-before-2024"
    assert in_2023.status == COMPLETE
    # Not a hip fracture: 6.06 still applies after a 16-week follow-up.
    followed = evaluate_with_set(
        record(
            date(2023, 6, 5),
            **{"1.11": "Non hip/non spine", "4.01": ["Alendronate"], "6.01": "Yes"},
        )
    )
    assert followed.applies["6.06"]
    in_2024 = evaluate_with_set(record(date(2024, 6, 3), **{"1.11": "Non hip/non spine"}))
    assert in_2024.status == NEEDS_CORRECTION
    assert {m.check for m in in_2024.errors["1.11"]} == {"answer_offered"}


# ---------------------------------------------------------------------------------------------
# Files based on another: every mistake named
# ---------------------------------------------------------------------------------------------


def delta_problems(changes: dict[str, Any], drop: tuple[str, ...] = ()) -> str:
    data = copy.deepcopy(DELTA_RAW)
    data.update(changes)
    for key in drop:
        data.pop(key)
    with pytest.raises(DataFileError) as info:
        parse_definition(data, Path("/service/earlier.toml"), bases={"flsdb-v3": V3_RAW})
    return str(info.value)


@pytest.mark.parametrize(
    ("changes", "drop", "fragment"),
    [
        ({"based_on": "flsdb-v2"}, (), "based_on names dataset 'flsdb-v2', which is not in use"),
        ({"id": "flsdb-v3"}, (), "'id' must differ from the base's"),
        ({}, ("applies_from",), "'applies_from' is missing"),
        ({"checks": []}, (), "'checks' cannot be given in a file based on another"),
        ({"question_changes": {"8.01": {"label": "x"}}}, (), "8.01 is not a question"),
        ({"question_changes": {"1.11": {"number": "1.14"}}}, (), "'number' cannot change"),
        ({"question_changes": {"1.11": {"colour": "red"}}}, (), "unknown key 'colour'"),
        ({"question_changes": {"1.11": "Hip"}}, (), "must be a table of the keys that change"),
        ({"answer_lists": {"fracture_site": []}}, (), "the answer list is empty"),
    ],
)
def test_a_bad_based_on_file_is_refused(
    changes: dict[str, Any], drop: tuple[str, ...], fragment: str
) -> None:
    text = delta_problems(changes, drop)
    assert text.startswith("earlier.toml: ")
    assert fragment in text


def test_question_changes_replace_only_the_keys_given() -> None:
    data = copy.deepcopy(DELTA_RAW)
    data["question_changes"] = {
        "1.11": {"answers": [{"label": "Spine"}, {"label": "Hip"}, {"label": "Other"}]},
        "2.01": {"label": "Height in cm"},
    }
    d = parse_definition(data, Path("/service/earlier.toml"), bases={"flsdb-v3": V3_RAW})
    assert [a.label for a in d.questions["1.11"].answers] == ["Spine", "Hip", "Other"]
    assert d.questions["2.01"].label == "Height in cm" and d.questions["2.01"].max == 220
    # The shared list still changes the other questions that use it.
    assert "Non hip/non spine" in {a.label for a in d.questions["1.12"].answers}


@pytest.mark.parametrize(
    ("aliases", "fragment"),
    [
        (["Assessed by FLS"], "alias 'Assessed by FLS' of 'Not assessed' is the answer"),
        (["no", ""], "aliases must be a list of texts"),
        ("No", "aliases must be a list of texts"),
    ],
)
def test_a_bad_alias_is_refused(aliases: Any, fragment: str) -> None:
    data = copy.deepcopy(V3_RAW)
    question = next(q for q in data["questions"] if q["number"] == "5.01")
    question["answers"][-1]["aliases"] = aliases
    with pytest.raises(DataFileError, match=r"question 5\.01") as info:
        parse_definition(data, Path("/service/mine.toml"))
    assert fragment in str(info.value)


def test_one_alias_for_two_answers_is_refused() -> None:
    data = copy.deepcopy(V3_RAW)
    question = next(q for q in data["questions"] if q["number"] == "5.01")
    question["answers"][0]["aliases"] = ["No"]
    with pytest.raises(DataFileError) as info:
        parse_definition(data, Path("/service/mine.toml"))
    assert "alias 'No' is given to both 'Assessed by FLS' and 'Not assessed'" in str(info.value)


# ---------------------------------------------------------------------------------------------
# flsdesk definitions
# ---------------------------------------------------------------------------------------------


def overrides_dir() -> Path:
    folder = Path(os.environ["FLSDESK_CONFIG_DIR"]) / "definitions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_definitions_lists_and_checks_the_pre_2024_file(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["definitions"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("flsdb-v3-before-2024.toml"))
    assert "bundled" in line and " ok " in line
    assert "diagnosed from 01/01/2016 to 31/12/2023: flsdb-v3-before-2024 (provisional)" in out
    assert "diagnosed from 01/01/2024: flsdb-v3" in out

    assert cli.main(["definitions", "--check", str(BEFORE_2024)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "(provisional), based on flsdb-v3" in out
    assert "applies from 01/01/2016" in out and "49 questions" in out


def test_a_service_correction_of_the_pre_2024_file_is_checked_against_the_base(
    capsys: pytest.CaptureFixture,
) -> None:
    text = BEFORE_2024.read_text(encoding="utf-8")
    broken = text.replace('based_on = "flsdb-v3"', 'based_on = "flsdb-v2"', 1)
    assert broken != text
    (overrides_dir() / BEFORE_2024.name).write_text(broken, encoding="utf-8")
    assert cli.main(["definitions"]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith(BEFORE_2024.name))
    assert "override" in line and "HAS PROBLEMS" in line
    assert cli.main(["definitions", "--check", str(overrides_dir() / BEFORE_2024.name)]) == 2
    err = capsys.readouterr().err
    assert "based_on names dataset 'flsdb-v2'" in err


def test_two_versions_from_the_same_day_are_reported_by_the_listing(
    capsys: pytest.CaptureFixture,
) -> None:
    """A service's old copy of flsdb-v3 (applying from 2016) clashes with the new file."""
    text = V3.read_text(encoding="utf-8").replace(
        "applies_from = 2024-01-01", "applies_from = 2016-01-01", 1
    )
    (overrides_dir() / V3.name).write_text(text, encoding="utf-8")
    assert cli.main(["definitions"]) == 1
    out = capsys.readouterr().out
    assert "cannot be used together" in out and "the same date as" in out
    with pytest.raises(DataFileError):
        load_definitions(resolve())
