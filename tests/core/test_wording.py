"""The one way flsdesk shows dates, questions and answers to people, and the one passphrase rule."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime

import pytest

from flsdesk import session
from flsdesk.dataset import load_definitions
from flsdesk.store import keys
from flsdesk.wording import (
    answer_for_people,
    date_for_people,
    moment_for_people,
    provisional_notes,
    question_label,
)


@pytest.fixture
def definition():  # type: ignore[no-untyped-def]
    return load_definitions().latest


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (date(2024, 3, 1), "01/03/2024"),
        (datetime(2024, 12, 31, 23, 59), "31/12/2024"),
        ("2024-03-01", "01/03/2024"),
        ("Not known", "Not known"),  # a special answer is not a date
        ("2024-W02-1", "2024-W02-1"),  # only YYYY-MM-DD is read as a date
        (None, ""),
    ],
)
def test_date_for_people(value, shown) -> None:  # type: ignore[no-untyped-def]
    assert date_for_people(value) == shown


@pytest.fixture
def london(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_moment_for_people_is_local_time(london) -> None:  # type: ignore[no-untyped-def]
    # Stored naive UTC; in British Summer Time 23:30 UTC is already the next day.
    assert moment_for_people(datetime(2024, 7, 1, 23, 30)) == "02/07/2024 00:30"
    assert moment_for_people(datetime(2024, 1, 15, 9, 5)) == "15/01/2024 09:05"


def test_question_label(definition) -> None:  # type: ignore[no-untyped-def]
    assert question_label(definition, "1.02") == "1.02 Date of birth"
    assert question_label(definition, "hospital_number") == "Hospital number"
    assert question_label(definition, "9.99") == "9.99"  # unknown: the key, never an error
    assert question_label(None, "1.02") == "1.02"
    assert question_label(definition, None) == ""


def test_answer_for_people(definition) -> None:  # type: ignore[no-untyped-def]
    assert answer_for_people(definition, "1.02", "1950-03-02") == "02/03/1950"
    assert answer_for_people(definition, "1.04", "2024-03-01") == "2024-03-01"  # text question
    assert answer_for_people(definition, "4.01", ["Alendronate", "Calcium"]) == (
        "Alendronate; Calcium"
    )
    assert answer_for_people(definition, "1.02", None) == ""
    assert answer_for_people(definition, None, {"1.02": "1950-03-02"}) == (
        "1.02 Date of birth: 02/03/1950"
    )


@dataclass
class _Profile:
    name: str
    provisional: bool


def test_provisional_notes_name_what_is_provisional(definition) -> None:  # type: ignore[no-untyped-def]
    notes = provisional_notes([definition], [_Profile("Webtool CSV", True), _Profile("X", False)])
    assert notes[0].startswith(f"{definition.name} {definition.version}: ")
    assert "questions in part" in notes[0]
    assert notes[1:] == ["Webtool CSV: the whole format."]


def test_passphrase_hint_says_too_short_exactly_when_it_is_refused() -> None:
    minimum = keys.MIN_PASSPHRASE_LENGTH
    for length in range(minimum + 3):
        candidate = "ab cd" * (length // 5) + "x" * (length % 5)
        score, hint = session.passphrase_strength(candidate)
        try:
            keys.check_new_passphrase(candidate)
            refused = ""
        except ValueError as exc:
            refused = str(exc)
        assert (score == 0) == bool(refused), candidate
        if refused:
            assert f"at least {minimum} characters" in hint
            assert f"at least {minimum} characters" in refused
