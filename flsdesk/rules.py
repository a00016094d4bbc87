"""Applicability, validation and completeness of one record, as the definition file says.

Nothing here knows a question number: which question is the NHS number, which answers are
exclusive, which date must come first — all of it is read from the definition. A hidden answer
(its question does not apply) is kept by the store but counts as absent everywhere here.

``evaluate`` never raises on odd answer values: whatever an import or an old definition left in a
record becomes an error message on that question, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from flsdesk import conditions as cond
from flsdesk.answers import (
    QuestionType,
    format_number,
    is_number,
    nhs_number_valid,
    parse_iso_date,
)
from flsdesk.dataset import Check, Definition, Question

# Callers have long imported these from here; they live in flsdesk.answers.
__all__ = ["format_number", "nhs_number_valid"]

NEEDS_CORRECTION = "Needs correction"
DRAFT = "Draft"
COMPLETE = "Complete"
STATUSES = (NEEDS_CORRECTION, DRAFT, COMPLETE)
REQUIRED_KIND = "required"


class RecordHooks(Protocol):
    """What the rules need from the store (checks that look at other records)."""

    def same_key(self, key: str, record_id: int | None) -> list[int]: ...

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]: ...


@dataclass(frozen=True)
class Message:
    question: str
    severity: str
    text: str
    check: str
    other_record: int | None = None
    kind: str = ""  # the check's kind ("required", "nhs_number"…)


@dataclass
class Evaluation:
    definition: Definition
    applies: dict[str, bool]
    tab_applies: dict[str, bool]
    effective: dict[str, Any]
    errors: dict[str, list[Message]] = field(default_factory=dict)
    warnings: dict[str, list[Message]] = field(default_factory=dict)
    missing_lite: list[str] = field(default_factory=list)
    key: str | None = None

    @property
    def status(self) -> str:
        # A question not answered yet is not a mistake: a record lacking only what is
        # "required" (a brand-new one has neither NHS number nor date) is a Draft; it still
        # has errors, so it is held back from export until they are answered.
        if any(m.kind != REQUIRED_KIND for ms in self.errors.values() for m in ms):
            return NEEDS_CORRECTION
        if self.missing_lite or self.errors:
            return DRAFT
        return COMPLETE

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def messages(self, question: str) -> list[Message]:
        return self.errors.get(question, []) + self.warnings.get(question, [])

    def all_messages(self) -> Iterator[Message]:
        for bucket in (self.errors, self.warnings):
            for messages in bucket.values():
                yield from messages


def is_answered(value: Any) -> bool:
    return value is not None and value != "" and value != []


# ---------------------------------------------------------------------------------------------
# Small value helpers (never raise)
# ---------------------------------------------------------------------------------------------


def birthday_in(year: int, born: date) -> date:
    """The birthday in a given year; a 29 February birthday falls on 1 March in other years."""
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def age_on(born: date, on: date) -> int:
    """Age in completed years; the birthday itself counts."""
    return on.year - born.year - (1 if on < birthday_in(on.year, born) else 0)


def _safe_str(value: Any) -> str:
    """str() that never raises (an int of thousands of digits cannot be turned into text)."""
    try:
        return value if isinstance(value, str) else repr(value)
    except ValueError:
        return "(a value too long to show)"


def _text(value: Any, limit: int = 60) -> str:
    """An odd value quoted in a message shown on screen (never logged), kept short."""
    text = _safe_str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Checks: one function per kind, each yields (question, format values, other record)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    definition: Definition
    effective: dict[str, Any]
    today: date
    hooks: RecordHooks | None
    record_id: int | None
    key: str | None

    def date(self, key: str) -> date | None:
        return parse_iso_date(self.effective.get(key))

    def of_type(self, *types: QuestionType) -> Iterator[tuple[Question, Any]]:
        for key, value in self.effective.items():
            q = self.definition.questions[key]
            if q.type in types:
                yield q, value


Finding = tuple[str, dict[str, Any], int | None]


def _nhs_number(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    allow = set(c.params.get("allow", []))
    for key in c.params["questions"]:
        value = ctx.effective.get(key)
        if value is None or (isinstance(value, str) and value in allow):
            continue
        if not isinstance(value, str) or not nhs_number_valid(value):
            yield key, {"value": _text(value)}, None


def _required(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for key in c.params["questions"]:
        if key not in ctx.effective:
            yield key, {}, None


def _valid_date(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.DATE):
        if not q.codec.well_formed(value):
            yield q.key, {"value": _text(value)}, None


def _not_future(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.DATE):
        parsed = parse_iso_date(value)
        if parsed is not None and parsed > ctx.today:
            yield q.key, {"value": value}, None


def _date_order(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    earlier, later = ctx.date(c.params["earlier"]), ctx.date(c.params["later"])
    if earlier is None or later is None:
        return
    wrong = later <= earlier if c.params["strict"] else later < earlier
    if wrong:
        yield c.params.get("at", c.params["later"]), {}, None


def _age_at_least(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    born, at = ctx.date(c.params["birth"]), ctx.date(c.params["at_date"])
    if born is None or at is None or born >= at:
        return
    age = age_on(born, at)
    if age < c.params["years"]:
        yield c.params.get("at", c.params["birth"]), {"age": age, "years": c.params["years"]}, None


def _date_not_before(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    value = ctx.date(c.params["question"])
    if value is not None and value < c.params["date"]:
        yield c.params["question"], {}, None


def _range(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.NUMBER):
        if not is_number(value):
            continue
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            yield (
                q.key,
                {
                    "value": format_number(value),
                    "min": format_number(q.min, q.precision),
                    "max": format_number(q.max, q.precision),
                },
                None,
            )


def _precision(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.NUMBER):
        if q.precision is None or not is_number(value):
            continue
        if abs(round(value, q.precision) - value) > 1e-9:
            yield q.key, {"value": format_number(value), "precision": q.precision}, None


def _number(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.NUMBER):
        if not q.codec.well_formed(value):
            yield q.key, {"value": _text(value)}, None


def _answer_offered(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.SINGLE, QuestionType.MULTI):
        for v in q.codec.offered(value):
            yield q.key, {"value": _text(v)}, None


def _exclusive(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.MULTI):
        if not isinstance(value, list) or len(value) < 2:
            continue
        for v in value:
            answer = q.answer(v) if isinstance(v, str) else None
            if answer is not None and answer.exclusive:
                yield q.key, {"value": v}, None
                break


def _max_length(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.TEXT, QuestionType.NHS):
        if q.max_length is not None and len(_safe_str(value)) > q.max_length:
            yield q.key, {"max_length": q.max_length}, None


def _text_kind(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    for q, value in ctx.of_type(QuestionType.TEXT):
        if not q.codec.well_formed(value):
            yield q.key, {"value": _text(value)}, None


def _answer_in(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    wanted = set(c.params["in"])
    for key in c.params["questions"]:
        value = ctx.effective.get(key)
        values = value if isinstance(value, list) else [value]
        hit = next((v for v in values if isinstance(v, str) and v in wanted), None)
        if hit is not None:
            yield key, {"value": hit}, None


def _duplicate_key(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    if ctx.hooks is None or ctx.key is None:
        return
    others = ctx.hooks.same_key(ctx.key, ctx.record_id)
    if others:
        at = c.params.get("at", ctx.definition.keys.primary[0])
        yield at, {"other": others[0]}, others[0]


def _refracture(c: Check, ctx: _Ctx) -> Iterator[Finding]:
    d = ctx.definition
    nhs = ctx.effective.get(d.role("nhs_number"))
    diagnosed = ctx.date(d.role("diagnosed"))
    if ctx.hooks is None or not isinstance(nhs, str) or diagnosed is None:
        return
    if not nhs_number_valid(nhs):  # OVERSEAS or a typo cannot identify a patient
        return
    others = ctx.hooks.earlier_same_patient(nhs, diagnosed, c.params["within_days"], ctx.record_id)
    if others:
        yield c.params.get("at", d.role("diagnosed")), {"other": others[0]}, others[0]


_KINDS: dict[str, Callable[[Check, _Ctx], Iterator[Finding]]] = {
    "nhs_number": _nhs_number,
    "required": _required,
    "valid_date": _valid_date,
    "not_future": _not_future,
    "date_order": _date_order,
    "age_at_least": _age_at_least,
    "date_not_before": _date_not_before,
    "range": _range,
    "precision": _precision,
    "number": _number,
    "answer_offered": _answer_offered,
    "exclusive_answers": _exclusive,
    "max_length": _max_length,
    "text": _text_kind,
    "answer_in": _answer_in,
    "duplicate_key": _duplicate_key,
    "refracture": _refracture,
}


class _FormatValues(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def applicability(
    definition: Definition, answers: Mapping[str, Any], today: date
) -> tuple[dict[str, bool], dict[str, bool], dict[str, Any]]:
    """Which questions and tabs apply, and the effective answers (hidden ones dropped)."""
    applies: dict[str, bool] = {}
    effective: dict[str, Any] = {}
    tab_applies: dict[str, bool] = {}
    questions = definition.questions
    tabs = definition.tabs_by_id
    tags_of = definition.tags_of
    value_of = effective.get

    for key in definition.evaluation_order:
        q = questions[key]
        tab_ok = tab_applies.get(q.tab)
        if tab_ok is None:
            tab = tabs[q.tab]
            # Safe to evaluate now: the evaluation order puts every question the tab rule
            # reads before the questions of the tab.
            tab_ok = tab.applies_when is None or cond.holds(
                tab.applies_when, value_of, today, tags_of, parse_iso_date
            )
            tab_applies[q.tab] = tab_ok
        ok = tab_ok and (
            q.applies_when is None
            or cond.holds(q.applies_when, value_of, today, tags_of, parse_iso_date)
        )
        applies[key] = ok
        if ok:
            value = answers.get(key)
            if is_answered(value):
                effective[key] = value
    for tab in definition.tabs:
        if tab.id not in tab_applies:
            tab_applies[tab.id] = tab.applies_when is None or cond.holds(
                tab.applies_when, value_of, today, tags_of, parse_iso_date
            )
    # Keep the effective answers in form order, so everything downstream is deterministic.
    ordered = {k: effective[k] for k in questions if k in effective}
    return applies, tab_applies, ordered


def evaluate(
    definition: Definition,
    answers: Mapping[str, Any],
    today: date,
    hooks: RecordHooks | None = None,
    record_id: int | None = None,
) -> Evaluation:
    applies, tab_applies, effective = applicability(definition, answers, today)
    key = definition.record_key(effective, today)
    result = Evaluation(definition, applies, tab_applies, effective, key=key)
    ctx = _Ctx(definition, effective, today, hooks, record_id, key)
    questions = definition.questions

    for check in definition.checks:
        for question, values, other in _KINDS[check.kind](check, ctx):
            q = questions.get(question)
            fmt = _FormatValues(values)
            fmt.setdefault("label", q.label if q else question)
            try:
                text = check.message.format_map(fmt)
            except (ValueError, IndexError, AttributeError):
                text = check.message
            bucket = result.errors if check.severity == "error" else result.warnings
            bucket.setdefault(question, []).append(
                Message(question, check.severity, text, check.id, other, check.kind)
            )

    value_of = effective.get
    tags_of = definition.tags_of
    for key in definition.evaluation_order:
        q = questions[key]
        if q.local or not applies[key] or key in effective:
            continue
        if q.lite or (
            q.lite_when is not None
            and cond.holds(q.lite_when, value_of, today, tags_of, parse_iso_date)
        ):
            result.missing_lite.append(key)
    order = list(questions)
    result.missing_lite.sort(key=order.index)
    return result


# ---------------------------------------------------------------------------------------------
# Why: the status in words
# ---------------------------------------------------------------------------------------------


def _labelled(definition: Definition, message: Message) -> str:
    q = definition.questions.get(message.question)
    label = q.label if q else message.question
    text = message.text.strip()
    # Messages that already name their question ("{label} is needed…") are not prefixed again.
    return text if label.lower() in text.lower() else f"{label}: {text}"


def problem_summary(evaluation: Evaluation, most: int = 6) -> str:
    """Why a record is not Complete, in the rules' own words with the question's label:
    every error (the reason it is held back from export), or else what is still missing.
    Empty for a Complete record. Shown on screen only: it may quote an answer."""
    definition = evaluation.definition
    order = {key: i for i, key in enumerate(definition.questions)}
    errors = [
        m
        for key in sorted(evaluation.errors, key=lambda k: order.get(k, len(order)))
        for m in evaluation.errors[key]
    ]

    def label(key: str) -> str:
        return definition.questions[key].label if key in definition.questions else key

    if any(m.kind != REQUIRED_KIND for m in errors):
        parts = [_labelled(definition, m) for m in errors]
    elif evaluation.missing_lite or errors:
        # A Draft: what is missing; and what must be answered before it can be exported.
        labels = [label(k) for k in evaluation.missing_lite]
        more = f" and {len(labels) - most} more" if len(labels) > most else ""
        text = ("Missing: " + ", ".join(labels[:most]) + more) if labels else ""
        needed = list(dict.fromkeys(label(m.question) for m in errors))
        if needed:
            text += (". " if text else "") + "Needed before export: " + ", ".join(needed) + "."
        return text
    else:
        return ""
    text = " ".join(p if p.endswith((".", "?", "!")) else p + "." for p in parts[:most])
    if len(parts) > most:
        text += f" And {len(parts) - most} more."
    return text
