"""A fast path of the rules' applicability for the few questions the KPIs read.

The KPIs look at a dozen questions of thousands of records. ``flsdesk.rules.applicability``
walks every question of a record and interprets each condition afresh; here the conditions of
the questions needed (and of what their rules read) are compiled once per scan into closures
over the effective answers, with the answer tags resolved to label sets. ``tests/core/
test_kpi_fast.py`` checks on thousands of generated records that both give the same effective
answers and tab applicability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from flsdesk import conditions as cond
from flsdesk.answers import parse_iso_date
from flsdesk.dataset import Definition
from flsdesk.rules import is_answered

Test = Callable[[Mapping[str, Any]], bool]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def compile_condition(c: cond.Condition, definition: Definition, today: date) -> Test:
    """``c`` as a function of the effective answers; the same truth as ``conditions.holds``."""
    match c:
        case cond.QuestionTest(question=q, operator="answered", operand=operand):
            want = bool(operand)
            return lambda eff: (eff.get(q) is not None) == want
        case cond.QuestionTest(question=q, operator="in", operand=operand):
            labels = frozenset(operand)
            return lambda eff: any(isinstance(v, str) and v in labels for v in _as_list(eff.get(q)))
        case cond.QuestionTest(question=q, operator="has_tag", operand=operand):
            question = definition.questions.get(q)
            tagged = frozenset(
                a.label for a in (question.answers if question else ()) if a.tags & operand
            )
            return lambda eff: any(isinstance(v, str) and v in tagged for v in _as_list(eff.get(q)))
        case cond.QuestionTest(question=q, operator=op, operand=operand):
            compare = cond.COMPARISONS[op]

            def number_test(eff: Mapping[str, Any]) -> bool:
                value = eff.get(q)
                if value is None or isinstance(value, bool) or not isinstance(value, int | float):
                    return False
                return compare(value, operand)

            return number_test
        case cond.DaysSince(question=q, at_least=n):

            def days_test(eff: Mapping[str, Any]) -> bool:
                start = parse_iso_date(eff.get(q))
                return start is not None and (today - start).days >= n

            return days_test
        case cond.AnyOf(items=items):
            tests = [compile_condition(i, definition, today) for i in items]
            return lambda eff: any(t(eff) for t in tests)
        case cond.AllOf(items=items):
            tests = [compile_condition(i, definition, today) for i in items]
            return lambda eff: all(t(eff) for t in tests)
        case cond.Not(item=item):
            test = compile_condition(item, definition, today)
            return lambda eff: not test(eff)
    return lambda eff: False


def closure(definition: Definition, needed: set[str]) -> tuple[str, ...]:
    """``needed`` and every question their rules (and every tab's rule) read, in evaluation
    order."""
    qs = definition.questions
    keys = {k for k in needed if k in qs}
    for tab in definition.tabs:
        if tab.applies_when is not None:
            keys |= {k for k in cond.referenced_questions(tab.applies_when) if k in qs}
    todo = list(keys)
    while todo:
        q = qs[todo.pop()]
        for rule in (q.applies_when, q.lite_when):
            if rule is None:
                continue
            for ref in cond.referenced_questions(rule):
                if ref not in keys and ref in qs:
                    keys.add(ref)
                    todo.append(ref)
    return tuple(k for k in definition.evaluation_order if k in keys)


class Applicability:
    """Compiled applicability of some questions of one definition, for one day."""

    def __init__(
        self,
        definition: Definition,
        order: tuple[str, ...],
        steps: tuple[tuple[str, str, Test | None], ...],
        tabs: tuple[tuple[str, Test | None], ...],
    ) -> None:
        self.definition = definition
        self.order = order
        self._steps = steps
        self._tabs = tabs
        self._tab_rules = dict(tabs)

    @classmethod
    def build(cls, definition: Definition, needed: set[str], today: date) -> Applicability:
        order = closure(definition, needed)
        tabs = tuple(
            (
                t.id,
                None
                if t.applies_when is None
                else compile_condition(t.applies_when, definition, today),
            )
            for t in definition.tabs
        )
        steps: list[tuple[str, str, Test | None]] = []
        for key in order:
            q = definition.questions[key]
            rule = q.applies_when
            steps.append(
                (key, q.tab, None if rule is None else compile_condition(rule, definition, today))
            )
        return cls(definition, order, tuple(steps), tabs)

    def __call__(
        self, answers: Mapping[str, Any]
    ) -> tuple[set[str], dict[str, bool], dict[str, Any]]:
        """The questions of ``order`` that apply, every tab's applicability, and the effective
        answers of those questions (hidden ones dropped), as ``rules.applicability`` has them."""
        applies: set[str] = set()
        effective: dict[str, Any] = {}
        tab_ok: dict[str, bool] = {}
        tab_rules = self._tab_rules
        for key, tab, test in self._steps:
            ok = tab_ok.get(tab)
            if ok is None:
                rule = tab_rules.get(tab)
                ok = tab_ok[tab] = rule is None or rule(effective)
            if ok and (test is None or test(effective)):
                applies.add(key)
                value = answers.get(key)
                if is_answered(value):
                    effective[key] = value
        for tab, rule in self._tabs:
            if tab not in tab_ok:
                tab_ok[tab] = rule is None or rule(effective)
        return applies, tab_ok, effective


def subset(values: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: values[k] for k in keys if k in values}
