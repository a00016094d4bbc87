"""The NHS number check digit (NHS Digital's Modulus 11), against numbers worked out by hand.

Algorithm: weights 10, 9, …, 2 on digits 1–9; check = 11 − (sum mod 11); 11 → 0; 10 → the number
is invalid; the check must equal digit 10. Each number below has its sum worked in the comment.
"""

from __future__ import annotations

from datetime import date

import pytest

from flsdesk.dataset import load_definitions
from flsdesk.rules import evaluate, nhs_number_valid

VALID = [
    # 9 4 3 4 7 6 5 9 1 | 9: 90+36+24+28+42+30+20+27+2 = 299; 299 mod 11 = 2; 11-2 = 9 ✓
    "9434765919",
    # 4 0 1 0 2 3 2 1 3 | 7: 40+0+8+0+12+15+8+3+6 = 92; 92 mod 11 = 4; 11-4 = 7 ✓
    "4010232137",
    # 9 9 9 0 0 0 0 0 1 | 8: 90+81+72+0+0+0+0+0+2 = 245; 245 mod 11 = 3; 11-3 = 8 ✓
    "9990000018",
    # 4 5 0 5 5 7 7 1 0 | 4: 40+45+0+35+30+35+28+3+0 = 216; 216 mod 11 = 7; 11-7 = 4 ✓
    "4505577104",
    # 4 8 5 7 7 7 3 4 5 | 7: 40+72+40+49+42+35+12+12+10 = 312; 312 mod 11 = 4; 11-4 = 7 ✓
    "4857773457",
    # 9 8 7 6 5 4 3 2 1 | 0: 90+72+56+42+30+20+12+6+2 = 330 = 30×11; mod 0; 11 → 0 ✓
    "9876543210",
    # 9 4 3 4 7 6 5 0 8 | 0: 90+36+24+28+42+30+20+0+16 = 286 = 26×11; mod 0; 11 → 0 ✓
    "9434765080",
]

INVALID = [
    # as 9434765919 but the last digit 8 (the check is 9)
    "9434765918",
    # as 4857773457 but the last digit 6 (the check is 7)
    "4857773456",
    # 4 0 1 0 2 3 2 1 3 | 6 (the check is 7)
    "4010232136",
    # 9 9 9 0 0 0 0 0 1 | 9 (the check is 8)
    "9990000019",
    # 9 8 7 6 5 4 3 2 1 | 1: remainder 0 gives check 0, not 11 or 1
    "9876543211",
]

# Check digit 10, so no last digit can make these valid:
# 1 2 3 4 5 6 7 8 9: 10+18+24+28+30+30+28+24+18 = 210; 210 mod 11 = 1; 11-1 = 10
# 4 0 1 0 2 3 2 0 3: 40+0+8+0+12+15+8+0+6 = 89; 89 mod 11 = 1; 11-1 = 10
CHECK_TEN_PREFIXES = ["123456789", "401023203"]


@pytest.mark.parametrize("number", VALID)
def test_known_valid_numbers(number):
    assert nhs_number_valid(number) is True


@pytest.mark.parametrize("number", INVALID)
def test_known_invalid_check_digits(number):
    assert nhs_number_valid(number) is False


@pytest.mark.parametrize("prefix", CHECK_TEN_PREFIXES)
@pytest.mark.parametrize("last", "0123456789")
def test_check_digit_ten_is_always_invalid(prefix, last):
    assert nhs_number_valid(prefix + last) is False


@pytest.mark.parametrize("digit", "0123456789")
def test_ten_identical_digits_are_invalid(digit):
    # Each of these passes the modulus on its own: the sum is 54×d and 54 ≡ −1 (mod 11), so the
    # check works out as d (and 0 for 0000000000). They must be refused by the extra rule.
    number = digit * 10
    total = sum(int(c) * w for c, w in zip(number[:9], range(10, 1, -1), strict=True))
    assert (11 - total % 11) % 11 == int(digit)
    assert nhs_number_valid(number) is False


@pytest.mark.parametrize(
    "text",
    [
        "943476591",  # 9 digits
        "94347659190",  # 11 digits
        "",
        "94347659l9",  # a letter l for a one
        "943476591O",  # a letter O for a zero
        "９４３４７６５９１９",  # full-width digits: not ASCII
        "943-476-5919",
        "OVERSEAS",  # allowed by the definition's check, not by the algorithm
    ],
)
def test_malformed_numbers_are_invalid(text):
    assert nhs_number_valid(text) is False


@pytest.mark.parametrize("text", ["943 476 5919", "9434765919 ", " 943 4765 919"])
def test_spaces_are_tolerated(text):
    assert nhs_number_valid(text) is True


def test_the_definition_check_uses_the_same_rule():
    definition = load_definitions().latest
    answers = {"1.09": "2024-01-01", "1.02": "1950-01-01"}
    today = date(2024, 6, 1)
    for number in VALID:
        assert "1.01" not in evaluate(definition, {**answers, "1.01": number}, today).errors
    for number in INVALID:
        errors = evaluate(definition, {**answers, "1.01": number}, today).errors
        assert [m.check for m in errors["1.01"]] == ["nhs_number"]
