"""Property-based tests of the rules engine (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flsdesk.dataset import load_definitions
from flsdesk.rules import COMPLETE, evaluate

DEFN = load_definitions().latest
QUESTIONS = DEFN.questions
KEYS = list(QUESTIONS)
VALID_NHS = ["9434765919", "4010232137", "9990000018", "4505577104", "9876543210"]
INVALID_NHS = ["9434765918", "1234567890", "0000000000", "94347659", "abc", "overseas"]
DRUGS = sorted(a.label for a in QUESTIONS["4.01"].answers if "drug" in a.tags)
OTHER_4_01 = [a.label for a in QUESTIONS["4.01"].answers if a.exclusive]

# Hypothesis-heavy (hundreds of evaluations per test): outside the -m 'not slow' inner loop.
pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dates = st.dates(min_value=date(1915, 1, 1), max_value=date(2027, 12, 31))
todays = st.dates(min_value=date(2016, 1, 1), max_value=date(2027, 12, 31))


class Hooks:
    """A store that always finds another record, so the hook checks fire when they can."""

    def same_key(self, key, record_id):
        return [99]

    def earlier_same_patient(self, nhs_number, diagnosed, days, record_id):
        return [98]


def plausible_value(q):
    """Values a record may really hold for this question: valid ones and typical mistakes."""
    bogus = st.sampled_from(["", "Bogus", "Don't Know", 3, None])
    if q.type == "nhs":
        return st.sampled_from([*VALID_NHS, *INVALID_NHS, "OVERSEAS"])
    if q.type == "date":
        return st.one_of(
            dates.map(date.isoformat),
            st.sampled_from(["31/12/2020", "2020-02-30", *q.special_answers]),
        )
    if q.type == "number":
        low = q.min if q.min is not None else -100
        high = q.max if q.max is not None else 100
        return st.one_of(
            st.floats(min_value=low - 10, max_value=high + 10),
            st.integers(min_value=int(low) - 10, max_value=int(high) + 10),
            st.just(float("nan")),
        )
    labels = [a.label for a in q.answers]
    if q.type == "single":
        return st.one_of(st.sampled_from(labels), bogus)
    if q.type == "multi":
        return st.lists(st.sampled_from([*labels, "Bogus"]), max_size=4)
    return st.text(max_size=12)


plausible_records = st.fixed_dictionaries(
    {}, optional={key: plausible_value(q) for key, q in QUESTIONS.items()}
)


# ---------------------------------------------------------------------------------------------
# A question that does not apply never yields an error or a warning
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(answers=plausible_records, today=todays, with_hooks=st.booleans())
def test_a_question_that_does_not_apply_has_no_message(answers, today, with_hooks):
    e = evaluate(DEFN, answers, today, hooks=Hooks() if with_hooks else None, record_id=1)
    hidden = {key for key, ok in e.applies.items() if not ok}
    assert set(e.applies) == set(KEYS)
    for message in e.all_messages():
        assert message.question not in hidden, message
    assert hidden.isdisjoint(e.effective)
    assert hidden.isdisjoint(e.missing_lite)


# ---------------------------------------------------------------------------------------------
# Filling every lite question that applies makes an error-free record Complete
# ---------------------------------------------------------------------------------------------


def valid_value(q, draw, diagnosed, today):
    """A value that cannot be an error for this question, given 1.09 and today."""
    if q.type == "nhs":
        return draw(st.sampled_from([*VALID_NHS, "OVERSEAS"]))
    if q.type == "date":
        choices = [d.isoformat() for d in (diagnosed, today)]
        span = (today - diagnosed).days
        choices.append((diagnosed + timedelta(days=draw(st.integers(0, span)))).isoformat())
        return draw(st.sampled_from([*choices, *q.special_answers]))
    if q.type == "multi":
        exclusive = [a.label for a in q.answers if a.exclusive]
        others = [a.label for a in q.answers if not a.exclusive]
        if exclusive and draw(st.booleans()):
            return [draw(st.sampled_from(exclusive))]
        return draw(st.lists(st.sampled_from(others), min_size=1, max_size=3, unique=True))
    if q.type == "single":
        return draw(st.sampled_from([a.label for a in q.answers]))
    if q.type == "number":
        return q.min if q.min is not None else 0
    return "x"


@SETTINGS
@given(data=st.data())
def test_filling_every_applicable_lite_question_makes_the_record_complete(data):
    draw = data.draw
    diagnosed = draw(st.dates(min_value=date(2016, 1, 1), max_value=date(2026, 12, 31)))
    today = diagnosed + timedelta(days=draw(st.integers(0, 800)))
    born = diagnosed - timedelta(days=draw(st.integers(51 * 365, 100 * 365)))
    answers = {
        "1.01": draw(st.sampled_from(VALID_NHS)),
        "1.02": born.isoformat(),
        "1.09": diagnosed.isoformat(),
    }
    # Some of the answers that decide which questions apply, chosen at random.
    for key in ("1.11", "1.12", "3.01", "4.01", "5.01", "6.01", "7.01"):
        if draw(st.booleans()):
            answers[key] = valid_value(QUESTIONS[key], draw, diagnosed, today)
    first = evaluate(DEFN, answers, today)
    assert first.errors == {}, first.errors

    for _ in range(10):
        e = evaluate(DEFN, answers, today)
        if not e.missing_lite:
            break
        for key in e.missing_lite:
            answers[key] = valid_value(QUESTIONS[key], draw, diagnosed, today)
    final = evaluate(DEFN, answers, today)
    assert final.missing_lite == []
    assert final.errors == {}, final.errors
    assert final.status == COMPLETE


# ---------------------------------------------------------------------------------------------
# evaluate never raises: odd values become errors, not crashes
# ---------------------------------------------------------------------------------------------


def json_like(ints):
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        ints,
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        # huge strings, built cheaply: long runs of digits (NHS- and number-like) or of text
        st.integers(5_000, 50_000).map(lambda n: "9" * n),
        st.text(min_size=1, max_size=10).map(lambda t: t * 1_000),
        st.sampled_from(["OVERSEAS", "Hip", "Yes", "Alendronate", "2020-02-29", "2020-W01-1"]),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=5), children, max_size=3),
        ),
        max_leaves=8,
    )


WITHIN_FLOAT = st.integers(min_value=-(10**300), max_value=10**300)
# Built by map: hypothesis shows a sampled_from's elements in its repr, and an int of 5,000
# digits cannot be turned into text.
ANY_INT = st.one_of(
    st.integers(), st.sampled_from([400, -400, 5000]).map(lambda n: 10**n if n > 0 else -(10**-n))
)
ANY_KEY = st.one_of(st.sampled_from(KEYS), st.text(max_size=6))


def _check_odd_record(answers, today):
    e = evaluate(DEFN, answers, today, hooks=Hooks(), record_id=3)
    assert e.status in ("Needs correction", "Draft", "Complete")
    assert set(e.effective) <= set(KEYS)
    # A value of the wrong type on a checked question that applies is an error.
    for key, value in e.effective.items():
        q = QUESTIONS[key]
        if q.type in ("single", "nhs") and not isinstance(value, str):
            assert key in e.errors, (key, value)
        if q.type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            assert key in e.errors, (key, value)
        if q.type == "date" and not isinstance(value, str):
            assert key in e.errors, (key, value)


# The property below this one covers a list or dict in 1.01 and huge ints; this one keeps to
# hashable scalars there so that its examples explore the other questions.
_hashable_scalars = st.one_of(
    st.none(), st.booleans(), WITHIN_FLOAT, st.floats(), st.text(max_size=30)
)


@SETTINGS
@given(
    answers=st.dictionaries(ANY_KEY, json_like(WITHIN_FLOAT), max_size=12),
    nhs=_hashable_scalars | st.just("absent"),
    today=todays,
)
def test_evaluate_never_raises_on_odd_values(answers, nhs, today):
    answers = {k: v for k, v in answers.items() if k != "1.01"}
    if nhs != "absent":
        answers["1.01"] = nhs
    _check_odd_record(answers, today)


# Fewer examples: each one answers all 56 questions with nested values.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.fixed_dictionaries(
        {key: json_like(WITHIN_FLOAT) for key in KEYS if key != "1.01"}
        | {"1.01": _hashable_scalars}
    ),
    today=todays,
)
def test_evaluate_never_raises_with_every_question_answered_oddly(answers, today):
    _check_odd_record(answers, today)


@SETTINGS
@example(answers={"1.01": ["9434765919"]}, today=date(2024, 1, 1))
@example(answers={"1.01": {"a": 1}}, today=date(2024, 1, 1))
@example(answers={"2.01": 10**400}, today=date(2024, 1, 1))
@example(answers={"1.04": 10**5000}, today=date(2024, 1, 1))
@given(answers=st.dictionaries(ANY_KEY, json_like(ANY_INT), max_size=12), today=todays)
def test_evaluate_never_raises_on_arbitrary_json_values(answers, today):
    _check_odd_record(answers, today)
