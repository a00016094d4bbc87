"""The KPIs' compiled applicability (flsdesk/kpi/fast.py) agrees with the rules engine's, on
generated records with plausible and mistaken answers (one home for applicability; a fast path
must be proved equal)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flsdesk import conditions as cond
from flsdesk.answers import parse_iso_date
from flsdesk.dataset import load_definitions
from flsdesk.kpi.definitions import load_kpis, questions_named
from flsdesk.kpi.fast import Applicability, closure, compile_condition
from flsdesk.rules import applicability
from tests.core.test_rules_properties import plausible_records, todays

DEFN = load_definitions().latest
KPI_QUESTIONS = questions_named(load_kpis().kpis) | {"1.05", "1.11"}
LITE = {q.key for q in DEFN.questions.values() if q.is_lite and not q.local}
# Hypothesis-heavy: outside the -m 'not slow' inner loop, like tests/core/test_rules_properties.py.
pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(answers=plausible_records, today=todays, with_lite=st.booleans())
def test_fast_applicability_agrees_with_the_rules(answers, today, with_lite):
    needed = KPI_QUESTIONS | (LITE if with_lite else set())
    fast = Applicability.build(DEFN, needed, today)
    applies, tabs, effective = fast(answers)
    ref_applies, ref_tabs, ref_effective = applicability(DEFN, answers, today)
    assert tabs == ref_tabs
    for key in fast.order:
        assert (key in applies) == ref_applies[key], key
        assert effective.get(key) == ref_effective.get(key), key
    assert set(fast.order) >= needed & set(DEFN.questions)


def _all_conditions():
    for tab in DEFN.tabs:
        if tab.applies_when is not None:
            yield tab.applies_when
    for q in DEFN.questions.values():
        for c in (q.applies_when, q.lite_when):
            if c is not None:
                yield c


CONDITIONS = list(_all_conditions())


@SETTINGS
@given(answers=plausible_records, today=todays, which=st.integers(0, len(CONDITIONS) - 1))
def test_compiled_conditions_agree_with_holds(answers, today, which):
    c = CONDITIONS[which]
    expected = cond.holds(c, answers.get, today, DEFN.tags_of, parse_iso_date)
    assert compile_condition(c, DEFN, today)(answers) == expected


def test_closure_holds_what_the_rules_read() -> None:
    order = closure(DEFN, {"6.06"})
    # 6.06 reads 6.01 and the fracture sites; 1.12 and 1.13 read the sites before them; the
    # follow-up tab reads 4.01.
    assert {"6.06", "6.01", "1.11", "1.12", "1.13", "4.01"} <= set(order)
    assert list(order) == [k for k in DEFN.evaluation_order if k in order]
    assert "5.02" not in order


def test_a_condition_on_days_uses_the_day_given() -> None:
    rule = DEFN.questions["6.01"].lite_when
    assert rule is not None
    answers = {"1.09": "2025-01-01"}
    assert not compile_condition(rule, DEFN, date(2025, 4, 23))(answers)  # day 112
    assert compile_condition(rule, DEFN, date(2025, 4, 24))(answers)  # day 113
