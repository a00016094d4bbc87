"""Typed text → stored answers and back: what the form keeps when a person types."""

from __future__ import annotations

import pytest

from flsdesk_ui.form import values


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("05/03/1948", "1948-03-05"),
        ("5/3/1948", "1948-03-05"),
        (" 05.03.1948 ", "1948-03-05"),
        ("05-03-1948", "1948-03-05"),
        ("", None),
        ("   ", None),
        ("31/02/2024", "31/02/2024"),  # not a date: kept as typed, the rules say so
        ("last Tuesday", "last Tuesday"),
        ("2024-01-05", "2024-01-05"),
        ("patient did not attend", "Patient did not attend"),
    ],
)
def test_date_from_text(typed: str, stored: str | None) -> None:
    assert values.date_from_text(typed, ("Patient did not attend",)) == stored


def test_date_to_text() -> None:
    assert values.date_to_text("1948-03-05") == "05/03/1948"
    assert values.date_to_text("31/02/2024") == "31/02/2024"
    assert values.date_to_text(None) == ""


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        ("9434765919", "9434765919"),
        ("overseas", "OVERSEAS"),
        ("12345", "12345"),
        ("94347G5919", "94347G5919"),
        ("", None),
    ],
)
def test_nhs_from_text(typed: str, stored: str | None) -> None:
    assert values.nhs_from_text(typed, ("OVERSEAS",)) == stored


def test_nhs_to_text() -> None:
    assert values.nhs_to_text("9434765919") == "943 476 5919"
    assert values.nhs_to_text("OVERSEAS") == "OVERSEAS"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("165", 165),
        ("165.5", 165.5),
        ("-2.7", -2.7),
        ("\u22122.7", -2.7),
        ("", None),
        ("tall", "tall"),
        ("nan", "nan"),
    ],
)
def test_number_from_text(typed: str, stored: object) -> None:
    result = values.number_from_text(typed)
    assert result == stored
    assert type(result) is type(stored)


def test_number_to_text_and_hint() -> None:
    assert values.number_to_text(165) == "165"
    assert values.number_to_text(-2.7) == "-2.7"
    assert values.number_to_text("tall") == "tall"
    assert values.range_hint(100, 220, 1) == "100 to 220, up to 1 decimal place"
    assert values.range_hint(0, 20, 0) == "0 to 20, whole number"


def test_text() -> None:
    assert values.text_from_text("  AB1 2CD ", multiline=False) == "AB1 2CD"
    assert values.text_from_text("line one\n  line two\n\n", multiline=True) == (
        "line one\n  line two"
    )
    assert values.text_from_text("   ", multiline=False) is None
