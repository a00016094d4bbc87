"""The export's fast applicability is a cache over ``rules.applicability`` and must give exactly
its answers (hypothesis: generated records, one cache shared across many of them, so a
combination cached from one record is reused for the next as in a real export)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, Question, load_definitions
from flsdesk.exchange.exporting.applicability import FastApplicability, atoms
from flsdesk.rules import applicability

DEFINITIONS = list(load_definitions())
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
todays = st.dates(min_value=date(2016, 1, 1), max_value=date(2027, 12, 31))
BLANKS = st.sampled_from(["", [], None])
# Values of the wrong type or outside the answer set: a stored record may hold them (an old
# import, a hand-edited definition) and both paths must still agree on them.
ODD = st.sampled_from(["Bogus", 3, -1.5, True, ["Bogus"], {"x": 1}])


def _condition_values(definition: Definition) -> dict[str, list[Any]]:
    """Per question, the values its conditions test for (so the generated records do switch
    tabs and questions on and off, rather than rarely hitting an operand by chance)."""
    found: dict[str, list[Any]] = {}
    conditions = [q.applies_when for q in definition.questions.values()]
    conditions += [t.applies_when for t in definition.tabs]
    for c in conditions:
        for atom in atoms(c):
            if isinstance(atom, cond.QuestionTest):
                values = found.setdefault(atom.question, [])
                if atom.operator in ("in", "has_tag"):
                    q = definition.questions[atom.question]
                    values.extend(
                        a.label
                        for a in q.answers
                        if a.label in atom.operand
                        or definition.tags_of(q.key, a.label) & atom.operand
                    )
                elif atom.operator in cond.COMPARISONS:
                    values.extend([atom.operand, atom.operand + 1, atom.operand - 1, 0])
    return found


def _value(q: Question, tested: list[Any]) -> st.SearchStrategy[Any]:
    labels = [a.label for a in q.answers]
    if q.type == "single" and labels:
        typed: st.SearchStrategy[Any] = st.sampled_from(labels)
    elif q.type == "multi" and labels:
        typed = st.lists(st.sampled_from(labels), max_size=4, unique=True)
    elif q.type == "date":
        typed = st.one_of(
            st.dates(min_value=date(2014, 1, 1), max_value=date(2028, 1, 1)).map(date.isoformat),
            st.sampled_from([*q.special_answers, "31/12/2020", "2020-02-30"]),
        )
    elif q.type == "number":
        typed = st.one_of(st.integers(-5, 200), st.floats(-5, 200, allow_nan=False))
    elif q.type == "nhs":
        typed = st.sampled_from(["9434765919", "4010232137", *q.special_answers])
    else:
        typed = st.text(max_size=8)
    choices = [typed, BLANKS, ODD]
    if tested:
        choices.insert(0, st.sampled_from(tested))
        if q.type == "multi":
            choices.insert(0, st.lists(st.sampled_from(tested), min_size=1, max_size=3))
    return st.one_of(*choices)


def _records(definition: Definition) -> st.SearchStrategy[dict[str, Any]]:
    """Records: each question absent, blank, answered from its answer set (often with the values
    conditions test), or odd. Answers to questions that do not apply are kept: hidden."""
    tested = _condition_values(definition)
    return st.fixed_dictionaries(
        {},
        optional={q.key: _value(q, tested.get(q.key, [])) for q in definition.questions.values()},
    )


RECORDS = {d.id: _records(d) for d in DEFINITIONS}


def records(definition: Definition) -> st.SearchStrategy[dict[str, Any]]:
    return RECORDS[definition.id]


def _reference(definition: Definition, answers: dict[str, Any], today: date):
    applies, _, effective = applicability(definition, answers, today)
    return frozenset(k for k, ok in applies.items() if ok), effective


def _check(fast: FastApplicability, batch: list[dict[str, Any]]) -> None:
    for answers in batch:
        applying, effective = _reference(fast.definition, answers, fast.today)
        assert fast.applying(answers) == applying, answers
        assert fast.effective(answers) == effective, answers


@pytest.mark.slow  # heavy hypothesis: 150 examples of up to 10 records per definition
@SETTINGS
@given(data=st.data(), today=todays)
def test_fast_path_agrees_with_rules_on_generated_records(data: st.DataObject, today: date):
    for definition in DEFINITIONS:
        batch = data.draw(st.lists(records(definition), min_size=1, max_size=10))
        _check(FastApplicability(definition, today), batch)


# One cache for the whole run (one export's life, many records): a combination cached by an
# earlier example is looked up by later ones.
SHARED_DAY = date(2025, 6, 30)
SHARED = {d.id: FastApplicability(d, SHARED_DAY) for d in DEFINITIONS}


@SETTINGS
@given(data=st.data())
def test_fast_path_agrees_with_one_cache_shared_by_every_record(data: st.DataObject):
    for definition in DEFINITIONS:
        _check(SHARED[definition.id], [data.draw(records(definition))])


def test_a_blank_answer_is_not_answered_even_after_the_cache_saw_a_real_one():
    """Found by the property test: the cached "answered" test counted a stored "" as answered,
    so a record with a blank 1.11 reused the combination of a record with a real one."""
    definition = DEFINITIONS[-1]
    tested = [
        q.key
        for q in definition.questions.values()
        for c in [q.applies_when]
        for a in atoms(c)
        if isinstance(a, cond.QuestionTest) and a.operator == "answered" and a.operand
    ]
    assert tested, "the bundled definition has an 'answered' condition"
    for key in tested:
        q = definition.questions[key]
        for real in [a.label for a in q.answers] or ["x"]:
            for blank in ("", []):
                _check(FastApplicability(definition, SHARED_DAY), [{key: real}, {key: blank}])
                _check(FastApplicability(definition, SHARED_DAY), [{key: blank}, {key: real}])
