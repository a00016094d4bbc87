"""The small declarative condition language of the definition files.

A condition is parsed once, when the definition loads, into plain frozen dataclasses; evaluating
one is a few dictionary look-ups. No ``eval``: the only operators are the ones below.

    {question = "1.11", in = ["Hip"]}        answered, and (one of) the answers is in the list
    {question = "4.01", has_tag = ["drug"]}  a chosen answer carries one of these tags
    {question = "1.11", answered = true}     answered (``false``: not answered)
    {question = "7.06", gt = 0}              numeric comparison: gt, ge, lt, le
    {days_since = "1.09", at_least = 113}    whole days from that date to today
    {any = [...]}, {all = [...]}, {not = {...}}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
QUESTION_OPERATORS = ("in", "has_tag", "answered", *COMPARISONS)


class ConditionError(ValueError):
    """A condition in a definition file is malformed; the message says how."""


@dataclass(frozen=True)
class QuestionTest:
    question: str
    operator: str
    operand: Any


@dataclass(frozen=True)
class DaysSince:
    question: str
    at_least: int


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = QuestionTest | DaysSince | AnyOf | AllOf | Not


def parse(raw: Any) -> Condition:
    """Turn a TOML table into a condition, or raise ConditionError saying what is wrong."""
    if not isinstance(raw, Mapping):
        raise ConditionError(f"a condition must be a table, not {raw!r}")
    keys = set(raw)
    if keys in ({"any"}, {"all"}):
        name = next(iter(keys))
        items = raw[name]
        if not isinstance(items, list) or not items:
            raise ConditionError(f"'{name}' needs a non-empty list of conditions")
        parsed = tuple(parse(item) for item in items)
        return AnyOf(parsed) if name == "any" else AllOf(parsed)
    if keys == {"not"}:
        return Not(parse(raw["not"]))
    if "days_since" in keys:
        if keys != {"days_since", "at_least"}:
            raise ConditionError("'days_since' takes exactly one more key, 'at_least'")
        at_least = raw["at_least"]
        if not isinstance(at_least, int) or isinstance(at_least, bool):
            raise ConditionError("'at_least' must be a whole number of days")
        return DaysSince(str(raw["days_since"]), at_least)
    if "question" in keys:
        operators = keys - {"question"}
        if len(operators) != 1:
            raise ConditionError(
                "a question condition needs exactly one of "
                + ", ".join(QUESTION_OPERATORS)
                + f"; found {sorted(operators) or 'none'}"
            )
        operator = operators.pop()
        if operator not in QUESTION_OPERATORS:
            raise ConditionError(
                f"unknown operator '{operator}' (known: {', '.join(QUESTION_OPERATORS)})"
            )
        operand = raw[operator]
        if operator in ("in", "has_tag"):
            if isinstance(operand, str):
                operand = [operand]
            if not isinstance(operand, list) or not all(isinstance(x, str) for x in operand):
                raise ConditionError(f"'{operator}' needs a list of answer texts")
            operand = frozenset(operand)
        elif operator == "answered":
            if not isinstance(operand, bool):
                raise ConditionError("'answered' must be true or false")
        elif not isinstance(operand, int | float) or isinstance(operand, bool):
            raise ConditionError(f"'{operator}' needs a number")
        return QuestionTest(str(raw["question"]), operator, operand)
    raise ConditionError(
        f"unknown condition keys {sorted(keys)}: expected question, days_since, any, all or not"
    )


def referenced_questions(cond: Condition) -> Iterator[str]:
    match cond:
        case QuestionTest(question=q) | DaysSince(question=q):
            yield q
        case AnyOf(items=items) | AllOf(items=items):
            for item in items:
                yield from referenced_questions(item)
        case Not(item=item):
            yield from referenced_questions(item)


def question_tests(cond: Condition) -> Iterator[QuestionTest]:
    match cond:
        case QuestionTest():
            yield cond
        case AnyOf(items=items) | AllOf(items=items):
            for item in items:
                yield from question_tests(item)
        case Not(item=item):
            yield from question_tests(item)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def holds(
    cond: Condition,
    value_of: Callable[[str], Any],
    today: date,
    tags_of: Callable[[str, Any], frozenset[str]],
    date_of: Callable[[Any], date | None],
) -> bool:
    """Whether ``cond`` holds; ``value_of`` gives a question's effective answer (None if absent).

    Never raises on odd values: an answer of the wrong type simply does not match.
    """
    match cond:
        case QuestionTest(question=q, operator=op, operand=operand):
            value = value_of(q)
            if op == "answered":
                return bool((value is not None) == operand)
            if value is None:
                return False
            if op == "in":
                return any(isinstance(v, str) and v in operand for v in _as_list(value))
            if op == "has_tag":
                return any(bool(tags_of(q, v) & operand) for v in _as_list(value))
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            return COMPARISONS[op](value, operand)
        case DaysSince(question=q, at_least=n):
            start = date_of(value_of(q))
            return start is not None and (today - start).days >= n
        case AnyOf(items=items):
            return any(holds(i, value_of, today, tags_of, date_of) for i in items)
        case AllOf(items=items):
            return all(holds(i, value_of, today, tags_of, date_of) for i in items)
        case Not(item=item):
            return not holds(item, value_of, today, tags_of, date_of)
    return False
