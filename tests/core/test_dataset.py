"""Loading dataset definitions: the bundled file, every loading error, versions and overrides.

Broken variants are made by loading the bundled TOML with ``tomllib``, changing the dict and
calling ``parse_definition``; a few real broken files live in ``tests/fixtures/datasets/``.
"""

from __future__ import annotations

import copy
import os
import shutil
import tomllib
from datetime import date, datetime
from pathlib import Path

import pytest

from flsdesk import cli
from flsdesk.datafiles import DataFileError
from flsdesk.dataset import (
    DefinitionSet,
    load_definition,
    load_definitions,
    parse_definition,
)
from flsdesk.paths import bundled_resources, resolve

BUNDLED = bundled_resources() / "datasets" / "flsdb-v3.toml"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "datasets"
NEWER = FIXTURES / "flsdb-test-2025.toml"
BEFORE_2024 = bundled_resources() / "datasets" / "flsdb-v3-before-2024.toml"
BROKEN_SYNTAX = FIXTURES / "broken-syntax.toml"
BROKEN_DEFINITION = FIXTURES / "broken-definition.toml"
RAW = tomllib.loads(BUNDLED.read_text(encoding="utf-8"))
SERVICE_FILE = Path("/somewhere/my-service-dataset.toml")


def overrides_dir():
    folder = Path(os.environ["FLSDESK_CONFIG_DIR"]) / "definitions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def question(data, number):
    return next(q for q in data["questions"] if q["number"] == number)


def check(data, check_id):
    return next(c for c in data["checks"] if c["id"] == check_id)


def problems_of(mutate):
    """Parse a mutated copy of the bundled definition; return the error's text."""
    data = copy.deepcopy(RAW)
    mutate(data)
    with pytest.raises(DataFileError) as info:
        parse_definition(data, SERVICE_FILE)
    return str(info.value), info.value


# ---------------------------------------------------------------------------------------------
# The bundled file
# ---------------------------------------------------------------------------------------------


def test_bundled_definition_loads():
    d = load_definition(BUNDLED)
    assert d.id == "flsdb-v3"
    assert d.applies_from == date(2024, 1, 1)
    assert len(d.exported_questions) == 49
    assert [q.key for q in d.local_fields] == [
        "name",
        "hospital_number",
        "contact_phone",
        "contact_phone_2",
        "gp_practice",
        "notes",
        "optout_status",
        "optout_date",
        "followup_ended_reason",
        "followup_ended_date",
    ]
    assert [t.label for t in d.tabs] == [
        "Patient",
        "Investigation",
        "DXA",
        "Initiation",
        "Falls",
        "Follow-up",
    ]
    assert d.questions["1.10"].short_name == "TypeOfFractue"  # sic, as the webtool exports it


def test_bundled_questions_are_numbered_in_form_order_from_1_01_to_7_07():
    d = load_definition(BUNDLED)
    numbers = [q.key for q in d.exported_questions]
    assert numbers[0] == "1.01" and numbers[-1] == "7.07"
    as_tuples = [tuple(int(p) for p in n.split(".")) for n in numbers]
    assert as_tuples == sorted(as_tuples)
    assert all(q.short_name for q in d.exported_questions)
    assert all(q.local for q in d.local_fields)


def test_load_definitions_without_overrides_is_the_bundled_file():
    definitions = load_definitions()
    assert [d.path for d in definitions] == [BEFORE_2024, BUNDLED]
    assert [d.applies_from for d in definitions] == [date(2016, 1, 1), date(2024, 1, 1)]
    assert definitions.latest.source == "bundled"


# ---------------------------------------------------------------------------------------------
# Loading errors: each names the file, the question (or check, tab…) and the problem
# ---------------------------------------------------------------------------------------------


def _set(path, value):
    """A mutator setting data[...][...] = value along ``path`` (numbers pick a question)."""

    def mutate(data):
        target = data
        for part in path[:-1]:
            target = question(data, part) if isinstance(part, str) and "." in part else target[part]
        target[path[-1]] = value

    return mutate


def _add_question_copy(number, **changes):
    def mutate(data):
        data["questions"].append({**copy.deepcopy(question(data, number)), **changes})

    return mutate


def _with_check(check_id, **changes):
    def mutate(data):
        check(data, check_id).update(changes)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        pytest.param(
            _set(("1.05", "colour"), "red"),
            ["question 1.05", "unknown key 'colour'"],
            id="unknown-key-in-question",
        ),
        pytest.param(
            _set(("colour",), "red"),
            ["unknown key 'colour'"],
            id="unknown-top-level-key",
        ),
        pytest.param(
            lambda d: question(d, "1.03")["answers"][0].update(colour="red"),
            ["question 1.03, answer 1", "unknown key 'colour'"],
            id="unknown-key-in-answer",
        ),
        pytest.param(
            lambda d: d["tabs"][0].update(colour="red"),
            ["tab patient", "unknown key 'colour'"],
            id="unknown-key-in-tab",
        ),
        pytest.param(
            _with_check("range", colour="red"),
            ["check range", "unknown key 'colour'"],
            id="unknown-key-in-check",
        ),
        pytest.param(
            _set(("1.12", "applies_when"), {"question": "1.99", "answered": True}),
            ["question 1.12, applies_when", "names question 1.99, which does not exist"],
            id="rule-names-a-missing-question",
        ),
        pytest.param(
            _with_check("dob_before_diagnosis", earlier="1.99"),
            ["check dob_before_diagnosis", "names question 1.99, which does not exist"],
            id="check-names-a-missing-question",
        ),
        pytest.param(
            _set(("3.02", "applies_when"), {"question": "3.01", "in": ["Not orderd"]}),
            ["question 3.02, applies_when", "'Not orderd' is not an answer of question 3.01"],
            id="in-answer-not-offered",
        ),
        pytest.param(
            lambda d: d["tabs"][5].update(applies_when={"question": "4.01", "has_tag": ["drugs"]}),
            ["tab followup, applies_when", "no answer of question 4.01 has the tag 'drugs'"],
            id="tag-not-carried-by-any-answer",
        ),
        pytest.param(
            lambda d: question(d, "1.03").pop("answers"),
            ["question 1.03", "a single question needs an answer list"],
            id="single-without-answers",
        ),
        pytest.param(
            lambda d: question(d, "4.01").pop("answers"),
            ["question 4.01", "a multi question needs an answer list"],
            id="multi-without-answers",
        ),
        pytest.param(
            _set(("1.03", "answers"), []),
            ["question 1.03", "the answer list is empty"],
            id="empty-answer-list",
        ),
        pytest.param(
            _set(("1.11", "answer_list"), "fracture_sites"),
            ["question 1.11", "answer_list 'fracture_sites' is not defined"],
            id="unknown-answer-list",
        ),
        pytest.param(
            _add_question_copy("1.05", short_name="CareRes2"),
            ["question 1.05", "is defined twice"],
            id="duplicate-number",
        ),
        pytest.param(
            _set(("1.05", "short_name"), "Gender"),
            ["question 1.05", "short name 'Gender' is also used by 1.03"],
            id="duplicate-short-name",
        ),
        pytest.param(
            _with_check("range", kind="ranges"),
            ["check range", "unknown kind 'ranges'"],
            id="unknown-check-kind",
        ),
        pytest.param(
            _with_check("range", message="{label} must be at most {maximum}."),
            ["check range", "message uses {maximum}"],
            id="unknown-message-placeholder",
        ),
        pytest.param(
            _with_check("range", severity="fatal"),
            ["check range", "severity must be 'error' or 'warning'"],
            id="unknown-severity",
        ),
        pytest.param(
            _set(("1.11", "applies_when"), {"question": "1.13", "answered": True}),
            ["question 1.11", "go round in a circle", "1.11 → 1.13 → 1.12 → 1.11"],
            id="cycle-in-applies-when",
        ),
        pytest.param(
            lambda d: d["tabs"][5].update(applies_when={"question": "6.01", "in": ["Yes"]}),
            ["question 6.01", "go round in a circle"],
            id="tab-rule-reads-its-own-question",
        ),
        pytest.param(
            _set(("1.05", "tab"), "patients"),
            ["question 1.05", "tab 'patients' is not one of the [[tabs]]"],
            id="unknown-tab",
        ),
        pytest.param(
            _set(("1.05", "type"), "boolean"),
            ["question 1.05", "type 'boolean' is not one of"],
            id="unknown-type",
        ),
        pytest.param(
            _set(("3.04", "min"), 5.0),
            ["question 3.04", "min 5.0 is above max 4.0"],
            id="min-above-max",
        ),
        pytest.param(
            _set(("1.12", "applies_when"), {"question": "1.11", "is": "Hip"}),
            ["question 1.12, applies_when", "unknown operator 'is'"],
            id="unknown-condition-operator",
        ),
        pytest.param(
            _set(("7.07", "applies_when"), {"question": "7.05", "gt": 0}),
            ["question 7.07, applies_when", "compares question 7.05"],
            id="comparison-on-a-non-number",
        ),
        pytest.param(
            _set(("roles", "diagnosed"), "1.99"),
            ["roles", "'diagnosed' names question 1.99"],
            id="role-names-a-missing-question",
        ),
        pytest.param(
            _set(("applies_from",), "2016-01-01"),
            ["'applies_from' must be a TOML date"],
            id="applies-from-as-text",
        ),
    ],
)
def test_definition_loading_errors(mutate, fragments):
    text, error = problems_of(mutate)
    assert error.path == SERVICE_FILE
    assert text.startswith("my-service-dataset.toml: ")  # every line names the file
    assert all(line.startswith("my-service-dataset.toml: ") for line in text.splitlines())
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_every_problem_is_reported_at_once():
    def mutate(data):
        question(data, "1.05")["colour"] = "red"
        question(data, "1.08")["tab"] = "nowhere"
        check(data, "range")["kind"] = "ranges"

    _, error = problems_of(mutate)
    assert len(error.problems) == 3


def test_the_unchanged_dict_parses():
    # The mutation tests above are meaningful only if the untouched copy is fine.
    assert parse_definition(copy.deepcopy(RAW), SERVICE_FILE).id == "flsdb-v3"


def test_answer_in_check_naming_an_answer_not_offered_is_refused():
    text, _ = problems_of(_with_check("excluded_sites", **{"in": ["Othr"]}))
    assert "check excluded_sites" in text and "Othr" in text


def test_unknown_key_in_followup_table_is_refused():
    text, _ = problems_of(_set(("followup", "window"), {}))
    assert "unknown key 'window'" in text


def test_followup_not_a_table_is_a_data_file_error():
    text, _ = problems_of(_set(("followup",), 3))
    assert "followup" in text


def test_applies_from_as_a_datetime_is_refused():
    data = copy.deepcopy(RAW)
    data["applies_from"] = datetime(2024, 1, 1, 0, 0)
    data["id"] = "with-datetime"
    with pytest.raises(DataFileError):
        later = parse_definition(data, SERVICE_FILE)
        # Were it accepted, choosing a version must still work.
        DefinitionSet([load_definition(BUNDLED), later]).for_date(date(2024, 6, 1))


def test_bad_toml_on_disk_names_the_file_and_the_line():
    with pytest.raises(DataFileError) as info:
        load_definition(BROKEN_SYNTAX)
    text = str(info.value)
    assert text.startswith("broken-syntax.toml: ")
    assert "not valid TOML" in text
    assert "line 4" in text


def test_broken_definition_on_disk_lists_its_problems():
    with pytest.raises(DataFileError) as info:
        load_definition(BROKEN_DEFINITION)
    text = str(info.value)
    assert "broken-definition.toml: question 1.01: unknown key 'colour'" in text
    assert "broken-definition.toml: question 1.02: a single question needs an answer list" in text
    assert "question 1.02: tab 'patients' is not one of the [[tabs]]" in text


def test_missing_file_is_a_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match=r"nothing-here\.toml: file not found"):
        load_definition(tmp_path / "nothing-here.toml")


# ---------------------------------------------------------------------------------------------
# Choosing the version by 1.09
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_versions():
    return DefinitionSet([load_definition(NEWER), load_definition(BUNDLED)])


def test_fixture_version_differs_as_intended():
    newer = load_definition(NEWER)
    assert newer.id == "flsdb-test-2025"
    assert newer.applies_from == date(2025, 1, 1)
    assert "2.07" in newer.questions and "2.07" not in load_definition(BUNDLED).questions


@pytest.mark.parametrize(
    ("diagnosed", "expected"),
    [
        (date(2024, 12, 31), "flsdb-v3"),
        (date(2025, 1, 1), "flsdb-test-2025"),  # the applies_from day itself
        (date(2025, 3, 3), "flsdb-test-2025"),
        (date(2024, 1, 1), "flsdb-v3"),
        (date(2010, 6, 1), "flsdb-v3"),  # before every version: the earliest
        (None, "flsdb-test-2025"),  # unknown: the newest
    ],
)
def test_for_date_picks_the_version_by_diagnosis(two_versions, diagnosed, expected):
    assert two_versions.for_date(diagnosed).id == expected


def test_for_answers_reads_1_09(two_versions):
    assert two_versions.for_answers({"1.09": "2025-02-01"}).id == "flsdb-test-2025"
    assert two_versions.for_answers({"1.09": "2024-02-01"}).id == "flsdb-v3"
    assert two_versions.for_answers({"1.09": "not a date"}).id == "flsdb-test-2025"
    assert two_versions.latest.id == "flsdb-test-2025"


def test_two_files_with_the_same_applies_from_are_refused():
    data = copy.deepcopy(RAW)
    data["id"] = "same-day"
    twin = parse_definition(data, Path("/x/same-day.toml"))
    with pytest.raises(DataFileError) as info:
        DefinitionSet([load_definition(BUNDLED), twin])
    text = str(info.value)
    assert "01/01/2024" in text
    assert "flsdb-v3.toml" in text and "same-day.toml" in text


def test_no_definition_at_all_is_an_error():
    with pytest.raises(DataFileError, match="no dataset definition"):
        DefinitionSet([])


# ---------------------------------------------------------------------------------------------
# Overrides in <config>/definitions/
# ---------------------------------------------------------------------------------------------


def test_override_with_the_bundled_name_replaces_it():
    text = BUNDLED.read_text(encoding="utf-8")
    changed = text.replace('label = "Height (cm)"', 'label = "Height in centimetres"', 1)
    assert changed != text
    (overrides_dir() / "flsdb-v3.toml").write_text(changed, encoding="utf-8")
    definitions = load_definitions(resolve())
    assert len(definitions.definitions) == 2
    d = definitions.latest
    assert d.source == "override"
    assert d.path.parent == overrides_dir()
    assert d.questions["2.01"].label == "Height in centimetres"
    # The earlier version is based on flsdb-v3 as in use: it follows the override.
    earlier = definitions.for_date(date(2023, 5, 1))
    assert earlier.id == "flsdb-v3-before-2024" and earlier.source == "bundled"
    assert earlier.questions["2.01"].label == "Height in centimetres"


def test_override_with_a_new_name_adds_a_version():
    shutil.copy(NEWER, overrides_dir() / NEWER.name)
    definitions = load_definitions(resolve())
    assert [(d.id, d.source) for d in definitions] == [
        ("flsdb-v3-before-2024", "bundled"),
        ("flsdb-v3", "bundled"),
        ("flsdb-test-2025", "override"),
    ]
    assert definitions.for_date(date(2025, 5, 1)).id == "flsdb-test-2025"
    assert definitions.for_date(date(2024, 5, 1)).id == "flsdb-v3"
    assert definitions.for_date(date(2023, 5, 1)).id == "flsdb-v3-before-2024"


def test_override_of_another_kind_is_not_a_dataset():
    (overrides_dir() / "profile.toml").write_text('kind = "export-profile"\n', encoding="utf-8")
    assert [d.source for d in load_definitions(resolve())] == ["bundled", "bundled"]


def test_a_broken_override_fails_loudly():
    (overrides_dir() / "flsdb-v3.toml").write_text(
        BROKEN_DEFINITION.read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(DataFileError, match="unknown key 'colour'"):
        load_definitions(resolve())


def test_an_override_reusing_the_bundled_date_is_refused():
    text = BUNDLED.read_text(encoding="utf-8").replace('id = "flsdb-v3"', 'id = "local"', 1)
    (overrides_dir() / "local.toml").write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError, match="the same date as"):
        load_definitions(resolve())


# ---------------------------------------------------------------------------------------------
# flsdesk definitions
# ---------------------------------------------------------------------------------------------


def _line_for(out, name):
    return next(line for line in out.splitlines() if line.strip().startswith(name))


def test_definitions_lists_the_bundled_file(capsys):
    assert cli.main(["definitions"]) == 0
    out = capsys.readouterr().out
    line = _line_for(out, "flsdb-v3.toml")
    assert "bundled" in line and "ok" in line
    assert str(BUNDLED) in line
    assert str(resolve().overrides_dir) in out


def test_definitions_lists_overrides_and_where_they_come_from(capsys):
    folder = overrides_dir()
    text = BUNDLED.read_text(encoding="utf-8")
    (folder / "flsdb-v3.toml").write_text(text.replace("Height (cm)", "Height"), encoding="utf-8")
    shutil.copy(NEWER, folder / NEWER.name)
    assert cli.main(["definitions"]) == 0
    out = capsys.readouterr().out
    replaced = _line_for(out, "flsdb-v3.toml")
    assert "override" in replaced and str(folder / "flsdb-v3.toml") in replaced
    added = _line_for(out, NEWER.name)
    assert "override" in added
    assert str(BUNDLED) not in out


def test_definitions_flags_a_broken_override(capsys):
    folder = overrides_dir()
    shutil.copy(BROKEN_DEFINITION, folder / "flsdb-v3.toml")
    shutil.copy(BROKEN_SYNTAX, folder / "broken-syntax.toml")
    assert cli.main(["definitions"]) == 1
    out = capsys.readouterr().out
    assert "HAS PROBLEMS" in _line_for(out, "flsdb-v3.toml")
    assert "unused:" in out and "broken-syntax.toml" in out


def test_definitions_check_on_a_good_file(capsys):
    assert cli.main(["definitions", "--check", str(NEWER)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    assert "flsdb-test-2025" in out and "50 questions" in out and "10 local fields" in out


@pytest.mark.parametrize(
    ("path", "fragments"),
    [
        (BROKEN_DEFINITION, ["question 1.01: unknown key 'colour'", "tab 'patients'"]),
        (BROKEN_SYNTAX, ["not valid TOML", "line 4"]),
    ],
)
def test_definitions_check_on_a_broken_file(capsys, path, fragments):
    assert cli.main(["definitions", "--check", str(path)]) == 2
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert path.name in printed
    for fragment in fragments:
        assert fragment in printed
    assert "OK" not in captured.out
