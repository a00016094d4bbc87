"""Effective answers, fast: a cache over ``flsdesk.rules.applicability``, the one reference."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from flsdesk import conditions as cond
from flsdesk.dataset import Definition, parse_iso_date
from flsdesk.rules import applicability, is_answered


class FastApplicability:
    """Which questions apply and the effective answers, fast: a cache over
    ``rules.applicability``, which stays the one reference.

    Which questions apply is decided by the atomic tests of the definition's rules ("1.11 is
    Hip", "4.01 has a drug", "1.12 answered"…). The reference runs them on *effective* values;
    an effective value is the stored value when it is answered and its question applies, and
    absent otherwise. So, question by question in evaluation order, a test on the effective
    value is the same test on the stored value read as the reference reads it (a blank is
    absent) when its question applies, and a constant when it does not: which questions apply
    is a function of the atomic tests' results on the stored values. Those are cheap and take
    few combinations, so the reference runs once per combination instead of once per record.

    Each compiled test below is a special case of ``cond.holds`` on ``_answered``-read values
    (the tags come from ``Definition.tags_of``); anything else goes through ``cond.holds``
    itself. A hypothesis test (tests/exchange/test_applicability_fast.py) checks the two agree.
    """

    def __init__(self, definition: Definition, today: date) -> None:
        self.definition = definition
        self.today = today
        tests: dict[Any, cond.Condition] = {}
        conditions = [q.applies_when for q in definition.questions.values()]
        conditions += [t.applies_when for t in definition.tabs]
        for c in conditions:
            for atom in atoms(c):
                tests.setdefault(atom, atom)
        self.tests = tuple(tests.values())
        self.checks = tuple(self._compile(t) for t in self.tests)
        self.refs = tuple(sorted({r for t in self.tests for r in cond.referenced_questions(t)}))
        self.cache: dict[tuple[bool, ...], frozenset[str]] = {}

    def _compile(self, test: cond.Condition) -> Callable[[Mapping[str, Any]], bool]:
        """The atomic test as a small function of the stored answers."""
        definition, today = self.definition, self.today
        if isinstance(test, cond.QuestionTest):
            q, op, operand = test.question, test.operator, test.operand
            if op == "answered":
                return lambda a: is_answered(a.get(q)) == operand
            if op in ("in", "has_tag"):
                if op == "has_tag":
                    # The labels whose tags the reference would find (tags belong to labels).
                    question = definition.questions[q]
                    operand = frozenset(
                        a.label
                        for a in question.answers
                        if definition.tags_of(q, a.label) & operand
                    )

                def member(a: Mapping[str, Any]) -> bool:
                    value = a.get(q)
                    if value is None:
                        return False
                    if isinstance(value, list):
                        return any(isinstance(v, str) and v in operand for v in value)
                    return isinstance(value, str) and value in operand

                return member

        def holds(a: Mapping[str, Any]) -> bool:
            return cond.holds(
                test, lambda k: _answered(a.get(k)), today, definition.tags_of, parse_iso_date
            )

        return holds

    def applying(self, answers: Mapping[str, Any]) -> frozenset[str]:
        """The questions that apply to a record with these stored answers."""
        key = tuple([check(answers) for check in self.checks])
        applying = self.cache.get(key)
        if applying is None:
            subset = {r: answers[r] for r in self.refs if r in answers}
            applies, _, _ = applicability(self.definition, subset, self.today)
            applying = frozenset(k for k, ok in applies.items() if ok)
            self.cache[key] = applying
        return applying

    def effective(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers that are answered and apply (as the reference's, in the stored order)."""
        applying = self.applying(answers)
        return {k: v for k, v in answers.items() if k in applying and is_answered(v)}


def _answered(value: Any) -> Any:
    """A stored value as the reference reads it: a blank is absent."""
    return value if is_answered(value) else None


def atoms(c: cond.Condition | None) -> list[cond.Condition]:
    match c:
        case None:
            return []
        case cond.QuestionTest() | cond.DaysSince():
            return [c]
        case cond.AnyOf(items=items) | cond.AllOf(items=items):
            return [a for i in items for a in atoms(i)]
        case cond.Not(item=item):
            return atoms(item)
    return []
