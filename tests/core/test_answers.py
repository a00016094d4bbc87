"""The answer codecs: typed text, display text and CSV cells round-trip for every question type,
over the bundled definition and the bundled export profile."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flsdesk.answers import (
    CsvStyle,
    QuestionType,
    codec_for,
    date_for_people,
    nhs_digits,
    nhs_for_people,
    nhs_number_valid,
    parse_number,
)
from flsdesk.dataset import Question, load_definitions
from flsdesk.exchange.profiles import load_export_profile

DEFINITION = load_definitions().latest
STYLE = CsvStyle.of_profile(load_export_profile())
DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


def _questions(qtype: QuestionType) -> list[Question]:
    found = [q for q in DEFINITION.questions.values() if q.type == qtype]
    assert found, f"the bundled definition has a {qtype} question"
    return found


def _one(qtype: QuestionType) -> Question:
    return _questions(qtype)[0]


NHS = _one(QuestionType.NHS)
DATE = _one(QuestionType.DATE)
NUMBER = _one(QuestionType.NUMBER)
TEXT = _one(QuestionType.TEXT)
SINGLE = _one(QuestionType.SINGLE)
MULTI = max(_questions(QuestionType.MULTI), key=lambda q: len(q.answers))


def test_question_types_are_the_enum_and_still_compare_as_strings() -> None:
    assert all(isinstance(q.type, QuestionType) for q in DEFINITION.questions.values())
    assert DATE.type == "date"
    assert {str(t) for t in QuestionType} == {"nhs", "date", "single", "multi", "number", "text"}


# --- date ---------------------------------------------------------------------------------------


@given(DATES)
def test_date_display_text_round_trips(day: date) -> None:
    codec = DATE.codec
    shown = codec.to_text(day.isoformat())
    assert shown == day.strftime("%d/%m/%Y")
    assert codec.to_text(codec.from_text(shown)) == shown


@given(DATES)
def test_date_cell_round_trips_under_the_bundled_profile(day: date) -> None:
    codec = DATE.codec
    cell = codec.to_cell(day.isoformat(), STYLE)
    value, bad = codec.from_cell(cell, STYLE)
    assert bad is None and value == day.isoformat()
    assert codec.to_cell(value, STYLE) == cell


def test_date_typed_loosely_and_badly() -> None:
    codec = DATE.codec
    assert codec.from_text(" 3.2.2024 ") == "2024-02-03"
    assert codec.from_text("31/02/2024") == "31/02/2024"  # kept as typed for the rules
    assert not codec.well_formed("31/02/2024")
    assert codec.from_text("   ") is None
    assert codec.from_cell("yesterday", STYLE) == ("yesterday", "valid_date")
    assert codec.from_cell("2024-02-03", STYLE) == ("2024-02-03", None)  # the spec's ISO form


def test_a_date_questions_special_answer_in_any_case() -> None:
    q = next(q for q in _questions(QuestionType.DATE) if q.special_answers)
    special = q.special_answers[0]
    assert q.codec.from_text(special.upper()) == special
    assert q.codec.from_cell(special.lower(), STYLE) == (special, None)
    assert q.codec.to_cell(special, STYLE) == special
    assert q.codec.well_formed(special)


def test_date_for_people_takes_dates_iso_text_and_leaves_the_rest() -> None:
    assert date_for_people(date(2025, 1, 2)) == "02/01/2025"
    assert date_for_people("2025-01-02") == "02/01/2025"
    assert date_for_people("2025-W02-1") == "2025-W02-1"
    assert date_for_people(None) == ""


# --- nhs ----------------------------------------------------------------------------------------

NHS_DIGITS = st.text(alphabet="0123456789", min_size=10, max_size=10)


@given(NHS_DIGITS)
def test_nhs_display_text_round_trips(digits: str) -> None:
    codec = NHS.codec
    shown = codec.to_text(digits)
    assert shown == f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    assert codec.from_text(shown) == digits
    assert codec.to_text(codec.from_text(shown)) == shown


@given(NHS_DIGITS, st.booleans())
def test_nhs_cell_round_trips(digits: str, spaced: bool) -> None:
    style = replace(STYLE, nhs_spaced=spaced)
    codec = NHS.codec
    cell = codec.to_cell(digits, style)
    assert (" " in cell) is spaced
    assert codec.from_cell(cell, style) == (digits, None)
    assert codec.to_cell(codec.from_cell(cell, style)[0], style) == cell


def test_nhs_normaliser_and_check_digit() -> None:
    assert nhs_digits(" 943-476 5919 ") == "9434765919"
    assert nhs_digits("943 476 591X") is None
    assert nhs_digits("") is None
    assert nhs_number_valid("943 476 5919")
    assert not nhs_number_valid("9434765918")
    assert not nhs_number_valid("1111111111")
    assert NHS.codec.well_formed("9434765919")
    assert not NHS.codec.well_formed("9434765918")
    assert NHS.codec.from_cell("94347659x9", STYLE) == ("94347659x9", "nhs_number")
    assert nhs_for_people("OVERSEAS") == "OVERSEAS"


# --- number -------------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
)


@given(NUMBERS)
def test_number_display_text_round_trips(value: float) -> None:
    codec = NUMBER.codec
    shown = codec.to_text(value)
    again = codec.from_text(shown)
    assert again == value
    assert codec.to_text(again) == shown


@given(NUMBERS, st.sampled_from([".", ","]))
def test_number_cell_round_trips(value: float, mark: str) -> None:
    style = replace(STYLE, decimal_mark=mark)
    codec = replace(NUMBER, precision=None).codec
    cell = codec.to_cell(value, style)
    read, bad = codec.from_cell(cell, style)
    assert bad is None
    assert read == value
    assert codec.to_cell(read, style) == cell


def test_numbers_that_are_not() -> None:
    assert parse_number("nan") is None
    assert parse_number("inf") is None
    assert parse_number("\u22123") == -3
    assert parse_number("2,5", ",") == 2.5
    assert NUMBER.codec.from_text("twelve") == "twelve"
    assert not NUMBER.codec.well_formed("twelve")
    assert not NUMBER.codec.well_formed(True)
    assert NUMBER.codec.from_cell("twelve", STYLE) == ("twelve", "number")


# --- single and multi ---------------------------------------------------------------------------


@given(st.sampled_from(SINGLE.answers), st.booleans())
def test_single_cell_round_trips_by_label_or_code(answer, as_code: bool) -> None:
    style = replace(STYLE, answers_as_code=as_code)
    codec = SINGLE.codec
    cell = codec.to_cell(answer.label, style)
    assert cell == (answer.code if as_code and answer.code else answer.label)
    assert codec.from_cell(cell, style) == (answer.label, None)
    assert codec.from_cell(f"  {cell.upper()} ", style)[0] == answer.label
    assert codec.to_text(answer.label) == answer.label


@given(st.lists(st.sampled_from([a.label for a in MULTI.answers]), min_size=1, unique=True))
def test_multi_cell_round_trips_in_the_definitions_order(labels: list[str]) -> None:
    codec = MULTI.codec
    cell = codec.to_cell(labels, STYLE)
    value, bad = codec.from_cell(cell, STYLE)
    order = [a.label for a in MULTI.answers]
    assert bad is None
    assert value == sorted(labels, key=order.index)
    assert codec.to_cell(value, STYLE) == cell
    assert codec.to_text(value) == "; ".join(value)


def test_answers_not_offered() -> None:
    assert SINGLE.codec.from_cell("Nonsense", STYLE) == ("Nonsense", "answer_offered")
    first = MULTI.answers[0].label
    value, bad = MULTI.codec.from_cell(f"{first}{STYLE.multi_joiner}Nonsense", STYLE)
    assert bad == "answer_offered" and value == [first, "Nonsense"]
    assert MULTI.codec.offered([first, "Nonsense", 3]) == ["Nonsense", 3]
    assert not SINGLE.codec.well_formed("Nonsense")


def test_profile_aliases_are_read() -> None:
    label = SINGLE.answers[0].label
    style = replace(STYLE, answer_aliases=(("zz-alias", label),))
    assert SINGLE.codec.from_cell("ZZ-Alias", style) == (label, None)
    assert SINGLE.codec.from_cell("zz-alias", STYLE)[1] == "answer_offered"


# --- text ---------------------------------------------------------------------------------------


@settings(max_examples=50)
@given(st.text(min_size=1).map(str.strip).filter(bool))
def test_text_round_trips(text: str) -> None:
    codec = TEXT.codec
    assert codec.from_text(f" {text} ") == text
    assert codec.to_text(codec.from_text(text)) == text
    assert codec.from_cell(text, STYLE) == (text, None)
    assert codec.to_cell(text, STYLE) == text


def test_notes_keep_their_layout() -> None:
    notes = replace(TEXT, multiline=True)
    assert codec_for(notes).from_text("  line one\n  line two\n\n") == "  line one\n  line two"
    assert not TEXT.codec.well_formed(12)


@pytest.mark.parametrize("qtype", list(QuestionType))
def test_blank_is_not_answered(qtype: QuestionType) -> None:
    codec = _one(qtype).codec
    assert codec.from_text("   ") in (None, [])
    assert codec.to_text(None) == ""
