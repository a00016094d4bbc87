"""Loading and checking dataset definition files (``resources/datasets/*.toml``).

The dataset, its rules and its answers are data: this module turns a definition file into the
typed, immutable objects of ``flsdesk.dataset.model`` and refuses a file with any problem, naming
the file, the question and the problem, so a service editing its own copy finds its mistake at
once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import string
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flsdesk import conditions as cond
from flsdesk.answers import QuestionType
from flsdesk.datafiles import DataFile, DataFileError, Problems, find, read_toml
from flsdesk.dataset.model import (
    QUESTION_TYPES,
    SEVERITIES,
    Answer,
    Check,
    Definition,
    DefinitionSet,
    FollowupEnd,
    FollowupWindow,
    KeySpec,
    Question,
    Tab,
)
from flsdesk.paths import AppPaths

_CHOICE = (QuestionType.SINGLE, QuestionType.MULTI)

_TOP_KEYS = {
    "kind",
    "id",
    "name",
    "version",
    "applies_from",
    "provisional_applies_from",
    "roles",
    "keys",
    "followup",
    "answer_lists",
    "tabs",
    "questions",
    "local_fields",
    "checks",
    "new_fracture_copies",
    "provisional",
    "based_on",
    "followup_end",
}
# A file based on another names the base by id and gives only what differs (see
# ``merge_based_on``); every other part of the dataset comes from the base.
_DELTA_KEYS = {
    "kind",
    "id",
    "name",
    "version",
    "applies_from",
    "provisional_applies_from",
    "provisional",
    "based_on",
    "answer_lists",
    "question_changes",
}
_QUESTION_KEYS = {
    "number",
    "short_name",
    "label",
    "tab",
    "type",
    "answers",
    "answer_list",
    "special_answers",
    "lite",
    "lite_when",
    "applies_when",
    "help",
    "hidden_note",
    "hidden_note_when",
    "min",
    "max",
    "precision",
    "max_length",
    "multiline",
    "provisional",
    "provisional_short_name",
    "provisional_answers",
    "provisional_range",
    "provisional_rule",
    "provisional_exclusive",
}
_LOCAL_KEYS = (_QUESTION_KEYS - {"number", "short_name", "lite", "lite_when"}) | {"name"}
_ANSWER_KEYS = {"label", "code", "tags", "exclusive", "provisional", "aliases"}
_FOLLOWUP_END_KEYS = {"provisional", "reasons"}
_END_REASON_KEYS = {"words", "answers"}
_TAB_KEYS = {"id", "label", "applies_when", "not_applicable_label", "not_applicable_help"}
_KEYS_KEYS = {"primary", "fallback", "fallback_when", "provisional_fallback"}
_WINDOW_KEYS = {"label", "closed_by", "upcoming_from", "due_from", "overdue_from", "missed_from"}
_ROLE_SINGLE = (
    "nhs_number",
    "date_of_birth",
    "gender",
    "diagnosed",
    "bone_therapy",
    "followup_16",
    "followup_52",
    "patient_name",
    "hospital_number",
    "notes",
    "optout_status",
    "optout_date",
    "followup_ended_reason",
    "followup_ended_date",
)
_ROLE_LIST = ("fracture_sites",)
# Roles a definition may leave out (an older dataset file need not know them): the worklist's
# contact details, local fields shown on the follow-up list and call sheet.
_ROLE_OPTIONAL = ("contact_phone", "contact_phone_2", "gp_practice")

# Check kinds: the parameters each needs (beyond id/kind/severity/message), the optional ones,
# and the placeholders its message may use.
_CHECK_KINDS: dict[str, tuple[set[str], set[str], set[str]]] = {
    "nhs_number": ({"questions"}, {"allow"}, {"label", "value"}),
    "required": ({"questions"}, set(), {"label"}),
    "valid_date": (set(), set(), {"label", "value"}),
    "not_future": (set(), set(), {"label", "value"}),
    "date_order": ({"earlier", "later", "strict"}, {"at"}, {"label"}),
    "age_at_least": ({"birth", "at_date", "years"}, {"at"}, {"label", "age", "years"}),
    "date_not_before": ({"question", "date"}, set(), {"label"}),
    "range": (set(), set(), {"label", "value", "min", "max"}),
    "precision": (set(), set(), {"label", "value", "precision"}),
    "number": (set(), set(), {"label", "value"}),
    "answer_offered": (set(), set(), {"label", "value"}),
    "exclusive_answers": (set(), set(), {"label", "value"}),
    "max_length": (set(), set(), {"label", "max_length"}),
    "text": (set(), set(), {"label", "value"}),
    "answer_in": ({"questions", "in"}, set(), {"label", "value"}),
    "duplicate_key": (set(), {"at"}, {"label", "other"}),
    "refracture": ({"within_days"}, {"at"}, {"label", "other"}),
}


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _parse_condition(raw: Any, where: str, problems: Problems) -> cond.Condition | None:
    if raw is None:
        return None
    try:
        return cond.parse(raw)
    except cond.ConditionError as exc:
        problems.add(where, str(exc))
        return None


def _parse_answers(
    raw: Any, where: str, problems: Problems, lists: Mapping[str, Any]
) -> tuple[Answer, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add(where, "the answer list is empty or not a list")
        return ()
    answers: list[Answer] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, 1):
        if isinstance(item, str):
            item = {"label": item}
        if not isinstance(item, Mapping):
            problems.add(where, f"answer {i} must be a table with a label")
            continue
        problems.unknown(f"{where}, answer {i}", item, _ANSWER_KEYS)
        label = item.get("label")
        if not isinstance(label, str) or not label.strip():
            problems.add(where, f"answer {i} has no label")
            continue
        if label in seen:
            problems.add(where, f"answer '{label}' is listed twice")
        seen.add(label)
        tags = item.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.add(where, f"answer '{label}': tags must be a list of words")
            tags = []
        code = item.get("code")
        aliases = item.get("aliases", [])
        if not isinstance(aliases, list) or not all(
            isinstance(a, str) and a.strip() for a in aliases
        ):
            problems.add(where, f"answer '{label}': aliases must be a list of texts")
            aliases = []
        answers.append(
            Answer(
                label=label,
                code=None if code is None else str(code),
                tags=frozenset(tags),
                exclusive=bool(item.get("exclusive", False)),
                provisional=bool(item.get("provisional", False)),
                aliases=tuple(aliases),
            )
        )
    # An alias read from a file must name one answer only, and never shadow a real answer.
    labels = {a.label.casefold(): a.label for a in answers}
    claimed: dict[str, str] = {}
    for a in answers:
        for alias in a.aliases:
            folded = alias.casefold()
            if folded in labels:
                problems.add(
                    where, f"alias '{alias}' of '{a.label}' is the answer '{labels[folded]}'"
                )
            elif folded in claimed and claimed[folded] != a.label:
                problems.add(
                    where, f"alias '{alias}' is given to both '{claimed[folded]}' and '{a.label}'"
                )
            claimed[folded] = a.label
    return tuple(answers)


def _number(raw: Any, name: str, where: str, problems: Problems) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.add(where, f"'{name}' must be a number")
        return None
    return raw


def _parse_question(
    raw: Any, local: bool, index: int, problems: Problems, lists: Mapping[str, Any]
) -> Question | None:
    section = "local_fields" if local else "questions"
    if not isinstance(raw, Mapping):
        problems.add(f"{section} entry {index}", "must be a table")
        return None
    key = raw.get("name" if local else "number")
    where = f"{'local field' if local else 'question'} {key or f'#{index}'}"
    problems.unknown(where, raw, _LOCAL_KEYS if local else _QUESTION_KEYS)
    id_key = "name" if local else "number"
    if key is not None and not isinstance(key, str):
        problems.add(where, f"'{id_key}' must be text in quotes, e.g. {id_key} = \"{key}\"")
        return None
    if not isinstance(key, str) or not key.strip():
        problems.add(where, f"'{id_key}' is missing")
        return None
    if not local and not all(part.isdigit() for part in key.split(".")):
        problems.add(where, "a question number looks like 1.11")
    if local and not key.replace("_", "").isalnum():
        problems.add(where, "a local field name uses letters, digits and _ only")
    for required in ("label", "tab", "type") + (() if local else ("short_name",)):
        value = raw.get(required)
        if value is not None and not isinstance(value, str):
            problems.add(where, f"'{required}' must be text in quotes")
        elif not isinstance(value, str) or not value.strip():
            problems.add(where, f"'{required}' is missing")
    qtype = raw.get("type")
    if qtype not in QUESTION_TYPES:
        problems.add(where, f"type '{qtype}' is not one of {', '.join(QUESTION_TYPES)}")
    answers: tuple[Answer, ...] = ()
    if "answers" in raw and "answer_list" in raw:
        problems.add(where, "give 'answers' or 'answer_list', not both")
    if "answer_list" in raw:
        name = raw["answer_list"]
        if name not in lists:
            problems.add(where, f"answer_list '{name}' is not defined in [answer_lists]")
        else:
            answers = _parse_answers(lists[name], where, problems, lists)
    elif "answers" in raw:
        answers = _parse_answers(raw["answers"], where, problems, lists)
    if qtype in _CHOICE and not answers and "answer_list" not in raw:
        problems.add(where, f"a {qtype} question needs an answer list ('answers' or 'answer_list')")
    if qtype not in _CHOICE and answers:
        problems.add(where, f"a {qtype} question takes no answer list")
    if qtype != QuestionType.MULTI and any(a.exclusive for a in answers):
        problems.add(where, "only a multi question can have exclusive answers")
    special = raw.get("special_answers", [])
    if not isinstance(special, list) or not all(isinstance(s, str) for s in special):
        problems.add(where, "'special_answers' must be a list of texts")
        special = []
    elif special and qtype not in (QuestionType.NHS, QuestionType.DATE):
        problems.add(where, "'special_answers' only make sense for nhs and date questions")
    low = _number(raw.get("min"), "min", where, problems)
    high = _number(raw.get("max"), "max", where, problems)
    if low is not None and high is not None and low > high:
        problems.add(where, f"min {low} is above max {high}")
    if (low is not None or high is not None or "precision" in raw) and qtype != QuestionType.NUMBER:
        problems.add(where, "min, max and precision are for number questions")
    precision = raw.get("precision")
    if precision is not None and (
        not isinstance(precision, int) or isinstance(precision, bool) or precision < 0
    ):
        problems.add(where, "'precision' must be a whole number of decimal places")
        precision = None
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        problems.add(where, "'max_length' must be a positive whole number")
        max_length = None
    flags = [
        part.removeprefix("provisional_").replace("_", " ")
        for part in sorted(raw)
        if part.startswith("provisional") and raw[part] is True
    ]
    flags = ["question" if f == "provisional" else f for f in flags]
    if any(a.provisional for a in answers) and "answers" not in flags:
        flags.append("some answers")
    return Question(
        key=key,
        label=str(raw.get("label", "")),
        tab=str(raw.get("tab", "")),
        # A bad type is reported above; the file is refused, the object only needs building.
        type=QuestionType(qtype) if qtype in QUESTION_TYPES else QuestionType.TEXT,
        local=local,
        short_name=None if local else str(raw.get("short_name", "")),
        answers=answers,
        special_answers=tuple(special),
        lite=bool(raw.get("lite", False)),
        lite_when=_parse_condition(raw.get("lite_when"), f"{where}, lite_when", problems),
        applies_when=_parse_condition(raw.get("applies_when"), f"{where}, applies_when", problems),
        help=str(raw.get("help", "")),
        hidden_note=str(raw.get("hidden_note", "")),
        hidden_note_when=_parse_condition(
            raw.get("hidden_note_when"), f"{where}, hidden_note_when", problems
        ),
        min=low,
        max=high,
        precision=precision,
        max_length=max_length,
        multiline=bool(raw.get("multiline", False)),
        provisional=tuple(flags),
    )


def _check_condition_refs(
    c: cond.Condition | None, where: str, questions: Mapping[str, Question], problems: Problems
) -> None:
    if c is None:
        return
    for ref in cond.referenced_questions(c):
        if ref not in questions:
            problems.add(where, f"names question {ref}, which does not exist")
    for test in cond.question_tests(c):
        q = questions.get(test.question)
        if q is None:
            continue
        if test.operator == "in":
            offered = {a.label for a in q.answers} | set(q.special_answers)
            for label in sorted(test.operand - offered):
                problems.add(where, f"'{label}' is not an answer of question {q.key}")
        elif test.operator == "has_tag":
            tags = set().union(*(a.tags for a in q.answers)) if q.answers else set()
            for tag in sorted(test.operand - tags):
                problems.add(where, f"no answer of question {q.key} has the tag '{tag}'")
        elif test.operator in cond.COMPARISONS and q.type != QuestionType.NUMBER:
            problems.add(where, f"compares question {q.key}, which is not a number question")
    for c2 in _days_since(c):
        q = questions.get(c2.question)
        if q is not None and q.type != QuestionType.DATE:
            problems.add(where, f"days_since needs a date question; {q.key} is {q.type}")


def _days_since(c: cond.Condition) -> list[cond.DaysSince]:
    match c:
        case cond.DaysSince():
            return [c]
        case cond.AnyOf(items=items) | cond.AllOf(items=items):
            return [d for i in items for d in _days_since(i)]
        case cond.Not(item=item):
            return _days_since(item)
    return []


def _evaluation_order(
    questions: Mapping[str, Question], tabs: Mapping[str, Tab], problems: Problems
) -> tuple[str, ...]:
    """Order questions so that each comes after every question its applicability reads."""
    deps: dict[str, set[str]] = {}
    for key, q in questions.items():
        refs: set[str] = set()
        for c in (q.applies_when, tabs[q.tab].applies_when if q.tab in tabs else None):
            if c is not None:
                refs |= {r for r in cond.referenced_questions(c) if r in questions}
        deps[key] = refs
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(key: str, trail: list[str]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            cycle = " → ".join([*trail[trail.index(key) :], key])
            problems.add(f"question {key}", f"applicability rules go round in a circle: {cycle}")
            return
        state[key] = 1
        for dep in sorted(deps[key], key=list(questions).index):
            visit(dep, [*trail, key])
        state[key] = 2
        order.append(key)

    for key in questions:
        visit(key, [])
    return tuple(order)


def _parse_checks(
    raw: Any, questions: Mapping[str, Question], problems: Problems
) -> tuple[Check, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add("checks", "must be a list of [[checks]] tables")
        return ()
    checks: list[Check] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            problems.add(f"check #{i}", "must be a table")
            continue
        cid = str(item.get("id", f"#{i}"))
        where = f"check {cid}"
        if cid in seen:
            problems.add(where, "the id is used twice")
        seen.add(cid)
        kind = item.get("kind")
        if kind not in _CHECK_KINDS:
            problems.add(where, f"unknown kind '{kind}' (known: {', '.join(_CHECK_KINDS)})")
            continue
        needed, optional, placeholders = _CHECK_KINDS[kind]
        base = {"id", "kind", "severity", "message"}
        problems.unknown(where, item, base | needed | optional)
        for key in sorted(needed - set(item)):
            problems.add(where, f"'{key}' is missing")
        severity = item.get("severity")
        if severity not in SEVERITIES:
            problems.add(where, f"severity must be 'error' or 'warning', not '{severity}'")
        message = item.get("message")
        if not isinstance(message, str) or not message.strip():
            problems.add(where, "'message' is missing")
            message = ""
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(message) if f}
        except ValueError as exc:
            problems.add(where, f"message: {exc}")
            fields = set()
        for f in sorted(fields - placeholders):
            problems.add(
                where, f"message uses {{{f}}}; this kind offers {sorted(placeholders) or 'none'}"
            )
        params = {k: v for k, v in item.items() if k not in base}
        refs: list[str] = []
        for name in ("questions",):
            value = params.get(name)
            if value is not None:
                if not isinstance(value, list) or not value:
                    problems.add(where, f"'{name}' must be a non-empty list of question numbers")
                else:
                    refs += [str(v) for v in value]
        for name in ("earlier", "later", "at", "birth", "at_date", "question"):
            if name in params:
                refs.append(str(params[name]))
        for ref in refs:
            if ref not in questions:
                problems.add(where, f"names question {ref}, which does not exist")
        if kind == "answer_in" and isinstance(params.get("in"), list):
            for ref in params.get("questions") or []:
                q = questions.get(str(ref))
                if q is None:
                    continue
                offered = {a.label for a in q.answers} | set(q.special_answers)
                for label in params["in"]:
                    if label not in offered:
                        problems.add(where, f"'{label}' is not an answer of question {q.key}")
        if kind == "date_not_before" and not isinstance(params.get("date"), date):
            problems.add(where, "'date' must be a TOML date such as 2016-01-01")
        for name in ("years", "within_days"):
            if name in params and (not isinstance(params[name], int) or params[name] < 0):
                problems.add(where, f"'{name}' must be a whole number")
        checks.append(Check(cid, str(kind), str(severity), message, params))
    return tuple(checks)


def _parse_followup_end(
    raw: Any, questions: Mapping[str, Question], roles: Mapping[str, Any], p: Problems
) -> dict[str, FollowupEnd]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        p.add("followup_end", "must be a table")
        return {}
    p.unknown("followup_end", raw, _FOLLOWUP_END_KEYS)
    reasons = raw.get("reasons", {})
    if not isinstance(reasons, Mapping):
        p.add("followup_end", "'reasons' must be a table of [followup_end.reasons.\"<reason>\"]")
        return {}
    field_key = roles.get("followup_ended_reason")
    reason_q = questions.get(field_key) if isinstance(field_key, str) else None
    offered = [a.label for a in reason_q.answers] if reason_q is not None else []
    found: dict[str, FollowupEnd] = {}
    for reason, item in reasons.items():
        where = f"followup_end reason '{reason}'"
        if not isinstance(item, Mapping):
            p.add(where, "must be a table")
            continue
        p.unknown(where, item, _END_REASON_KEYS)
        if reason_q is not None and reason not in offered:
            p.add(where, f"is not an answer of {reason_q.key} ({', '.join(offered)})")
        words = item.get("words", reason)
        if not isinstance(words, str) or not words.strip():
            p.add(where, "'words' must be text")
            words = str(reason)
        raw_answers = item.get("answers", {})
        if not isinstance(raw_answers, Mapping):
            p.add(where, '\'answers\' must be a table such as { "7.01" = "No" }')
            raw_answers = {}
        answers: dict[str, str] = {}
        for key, label in raw_answers.items():
            q = questions.get(key)
            if q is None:
                p.add(where, f"names question {key}, which does not exist")
            elif q.local:
                p.add(where, f"{key} is a local field; ending follow-up answers dataset questions")
            elif q.type != QuestionType.SINGLE:
                p.add(where, f"question {key} is not a single-answer question")
            elif not isinstance(label, str) or q.answer(label) is None:
                p.add(where, f"'{label}' is not an answer of question {key}")
            else:
                answers[key] = label
        found[str(reason)] = FollowupEnd(str(reason), words.strip(), answers)
    return found


def _digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def merge_based_on(
    delta: Mapping[str, Any], path: Path, bases: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A file based on another, merged with its base; raises DataFileError naming the problems.

    Such a file gives only what differs: its own id, name, version and applies_from (required:
    it is another version), ``[answer_lists]`` that replace or add lists by name, and
    ``[question_changes."<number>"]`` tables whose keys replace those of the base's question
    (``answers`` and ``answer_list`` replace each other). Everything else is the base's, so a
    correction to the base (or a field added to it) reaches this version too.
    """
    p = Problems()
    for key in sorted(set(delta) - _DELTA_KEYS):
        p.add(
            "",
            f"'{key}' cannot be given in a file based on another (it gives only "
            f"{', '.join(sorted(_DELTA_KEYS - {'kind', 'based_on'}))}); to change '{key}', "
            "copy the whole base file instead",
        )
    base_id = delta.get("based_on")
    base = bases.get(base_id) if isinstance(base_id, str) else None
    if base is None:
        known = ", ".join(sorted(bases)) or "none"
        p.add("", f"based_on names dataset {base_id!r}, which is not in use (known: {known})")
        raise DataFileError(path, p.items)
    for key in ("id", "applies_from"):
        if key not in delta:
            p.add("", f"'{key}' is missing (it must differ from the base's)")
    if delta.get("id") == base.get("id"):
        p.add("", f"'id' must differ from the base's ('{base_id}')")
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    merged.pop("provisional", None)
    for key in ("kind", "id", "name", "version", "applies_from"):
        if key in delta:
            merged[key] = delta[key]
    for key in ("provisional_applies_from", "provisional", "based_on"):
        if key in delta:
            merged[key] = delta[key]
    lists = delta.get("answer_lists", {})
    if not isinstance(lists, Mapping):
        p.add("answer_lists", "must be a table of lists")
    else:
        base_lists = merged.setdefault("answer_lists", {})
        if isinstance(base_lists, dict):
            base_lists.update(copy.deepcopy(dict(lists)))
    changes = delta.get("question_changes", {})
    if not isinstance(changes, Mapping):
        p.add("question_changes", 'must be a table of [question_changes."<number>"]')
        changes = {}
    targets: dict[str, dict[str, Any]] = {}
    for section, id_key in (("questions", "number"), ("local_fields", "name")):
        for item in merged.get(section, []) or []:
            if isinstance(item, dict) and isinstance(item.get(id_key), str):
                targets.setdefault(item[id_key], item)
    for key, change in changes.items():
        where = f"question_changes {key}"
        target = targets.get(str(key))
        if target is None:
            p.add(where, f"{key} is not a question or local field of dataset '{base_id}'")
            continue
        if not isinstance(change, Mapping):
            p.add(where, "must be a table of the keys that change")
            continue
        for fixed in ("number", "name"):
            if fixed in change:
                p.add(where, f"'{fixed}' cannot change: add a question in a copy of the base")
        if "answers" in change:
            target.pop("answer_list", None)
        if "answer_list" in change:
            target.pop("answers", None)
        target.update(copy.deepcopy(dict(change)))
    if p.items:
        raise DataFileError(path, p.items)
    return merged


def parse_definition(
    data: Mapping[str, Any],
    path: Path,
    source: str = "bundled",
    bases: Mapping[str, Mapping[str, Any]] | None = None,
) -> Definition:
    """Build a Definition from parsed TOML, or raise DataFileError listing every problem.

    A file with ``based_on`` is first merged with its base, looked up by id in ``bases`` (the
    raw dataset files in use; the bundled ones when not given).
    """
    if "based_on" in data:
        data = merge_based_on(data, path, bundled_bases() if bases is None else bases)
    try:
        return _parse_definition(data, path, source)
    except DataFileError:
        raise
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        # A value of an unexpected type somewhere the specific checks do not look: still a
        # clear refusal naming the file, never a crash of the program reading it.
        raise DataFileError(
            path,
            [
                f"a value has the wrong type ({type(exc).__name__}: {exc}); compare with "
                "the bundled file"
            ],
        ) from None


def _parse_header(data: Mapping[str, Any], p: Problems) -> tuple[date, Mapping[str, Any]]:
    """The version, applies_from and the answer lists the questions refer to."""
    p.header(data, "dataset", _TOP_KEYS)
    if not isinstance(data.get("version"), str | int) or not str(data.get("version")).strip():
        p.add("", "'version' is missing")
    applies_from = data.get("applies_from")
    # A TOML date-time is a datetime, which is also a date: refuse it, it would not compare.
    if not isinstance(applies_from, date) or isinstance(applies_from, datetime):
        p.add("", "'applies_from' must be a TOML date such as 2020-01-01")
        applies_from = date.min
    lists = data.get("answer_lists", {})
    if not isinstance(lists, Mapping):
        p.add("answer_lists", "must be a table of lists")
        lists = {}
    return applies_from, lists


def _parse_tabs(data: Mapping[str, Any], p: Problems) -> dict[str, Tab]:
    tabs: dict[str, Tab] = {}
    for i, raw in enumerate(data.get("tabs", []) or [], 1):
        if not isinstance(raw, Mapping) or not raw.get("id") or not raw.get("label"):
            p.add(f"tab #{i}", "needs an id and a label")
            continue
        p.unknown(f"tab {raw['id']}", raw, _TAB_KEYS)
        if raw["id"] in tabs:
            p.add(f"tab {raw['id']}", "the id is used twice")
        tabs[str(raw["id"])] = Tab(
            id=str(raw["id"]),
            label=str(raw["label"]),
            applies_when=_parse_condition(raw.get("applies_when"), f"tab {raw['id']}", p),
            not_applicable_label=str(raw.get("not_applicable_label", "")),
            not_applicable_help=str(raw.get("not_applicable_help", "")),
        )
    if not tabs:
        p.add("tabs", "no [[tabs]] are defined")

    return tabs


def _parse_questions(
    data: Mapping[str, Any], tabs: Mapping[str, Tab], lists: Mapping[str, Any], p: Problems
) -> dict[str, Question]:
    questions: dict[str, Question] = {}
    short_names: dict[str, str] = {}
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        p.add("questions", "no [[questions]] are defined")
        raw_questions = []
    for local, entries in ((False, raw_questions), (True, data.get("local_fields", []) or [])):
        for i, raw in enumerate(entries, 1):
            q = _parse_question(raw, local, i, p, lists)
            if q is None:
                continue
            what = "local field" if local else "question"
            if q.key in questions:
                p.add(f"{what} {q.key}", "is defined twice")
                continue
            if q.tab and q.tab not in tabs:
                p.add(f"{what} {q.key}", f"tab '{q.tab}' is not one of the [[tabs]]")
            if q.short_name:
                if q.short_name in short_names:
                    p.add(
                        f"question {q.key}",
                        f"short name '{q.short_name}' is also used by {short_names[q.short_name]}",
                    )
                short_names[q.short_name] = q.key
            questions[q.key] = q

    return questions


def _check_references(
    questions: Mapping[str, Question], tabs: Mapping[str, Tab], p: Problems
) -> None:
    for q in questions.values():
        where = f"{'local field' if q.local else 'question'} {q.key}"
        _check_condition_refs(q.applies_when, f"{where}, applies_when", questions, p)
        _check_condition_refs(q.lite_when, f"{where}, lite_when", questions, p)
        _check_condition_refs(q.hidden_note_when, f"{where}, hidden_note_when", questions, p)
    for t in tabs.values():
        _check_condition_refs(t.applies_when, f"tab {t.id}, applies_when", questions, p)


def _parse_roles(
    data: Mapping[str, Any], questions: Mapping[str, Question], p: Problems
) -> Mapping[str, Any]:
    roles: Mapping[str, Any] = data.get("roles", {})
    if not isinstance(roles, Mapping):
        p.add("roles", "must be a table")
        roles = {}
    p.unknown("roles", roles, set(_ROLE_SINGLE) | set(_ROLE_LIST) | set(_ROLE_OPTIONAL))
    for name in _ROLE_SINGLE + _ROLE_OPTIONAL:
        if name not in roles:
            if name not in _ROLE_OPTIONAL:
                p.add("roles", f"'{name}' is missing")
        elif roles[name] not in questions:
            p.add("roles", f"'{name}' names question {roles[name]}, which does not exist")
        elif name in _ROLE_OPTIONAL and not questions[roles[name]].local:
            p.add("roles", f"'{name}' must name a local field (contact details are never exported)")
    for name in _ROLE_LIST:
        value = roles.get(name)
        if not isinstance(value, list) or not value:
            p.add("roles", f"'{name}' must be a list of question numbers")
        else:
            for ref in value:
                if ref not in questions:
                    p.add("roles", f"'{name}' names question {ref}, which does not exist")

    return roles


def _parse_keys(data: Mapping[str, Any], questions: Mapping[str, Question], p: Problems) -> KeySpec:
    keys_raw = data.get("keys", {})
    if not isinstance(keys_raw, Mapping):
        keys_raw = {}
    p.unknown("keys", keys_raw, _KEYS_KEYS)
    primary = keys_raw.get("primary")
    if not isinstance(primary, list) or not primary:
        p.add("keys", "'primary' must list the questions that identify a record")
        primary = []
    fallback = keys_raw.get("fallback", []) or []
    for ref in [*primary, *fallback]:
        if ref not in questions:
            p.add("keys", f"names question {ref}, which does not exist")
    fallback_when = _parse_condition(keys_raw.get("fallback_when"), "keys, fallback_when", p)
    _check_condition_refs(fallback_when, "keys, fallback_when", questions, p)
    if fallback_when is not None and not fallback:
        p.add("keys", "'fallback_when' is given but 'fallback' is empty")

    return KeySpec(
        tuple(primary),
        tuple(fallback),
        fallback_when,
        bool(keys_raw.get("provisional_fallback", False)),
    )


def _parse_windows(
    data: Mapping[str, Any], questions: Mapping[str, Question], p: Problems
) -> tuple[FollowupWindow, ...]:
    windows: list[FollowupWindow] = []
    followup = data.get("followup", {}) or {}
    if not isinstance(followup, Mapping):
        p.add("followup", "must be a table")
        followup = {}
    p.unknown("followup", followup, {"provisional", "windows"})
    raw_windows = followup.get("windows", {}) or {}
    if not isinstance(raw_windows, Mapping):
        p.add("followup", "'windows' must be a table of windows")
        raw_windows = {}
    for wid, raw in raw_windows.items():
        where = f"followup window {wid}"
        if not isinstance(raw, Mapping):
            p.add(where, "must be a table")
            continue
        p.unknown(where, raw, _WINDOW_KEYS)
        missing = sorted(_WINDOW_KEYS - set(raw))
        if missing:
            p.add(where, f"missing {', '.join(missing)}")
            continue
        if raw["closed_by"] not in questions:
            p.add(where, f"closed_by names question {raw['closed_by']}, which does not exist")
        days = [raw[k] for k in ("upcoming_from", "due_from", "overdue_from", "missed_from")]
        if not all(isinstance(d, int) for d in days) or days != sorted(days):
            p.add(where, "the day counts must be whole numbers in increasing order")
            continue
        windows.append(FollowupWindow(str(wid), str(raw["label"]), str(raw["closed_by"]), *days))

    return tuple(windows)


def _parse_copies(
    data: Mapping[str, Any], questions: Mapping[str, Question], p: Problems
) -> tuple[str, ...]:
    copies = data.get("new_fracture_copies", []) or []
    if not isinstance(copies, list):
        p.add("new_fracture_copies", "must be a list of question numbers or local field names")
        copies = []
    for ref in copies:
        if ref not in questions:
            p.add("new_fracture_copies", f"names question {ref}, which does not exist")

    return tuple(str(c) for c in copies)


def _parse_definition(data: Mapping[str, Any], path: Path, source: str) -> Definition:
    p = Problems()
    applies_from, lists = _parse_header(data, p)
    tabs = _parse_tabs(data, p)
    questions = _parse_questions(data, tabs, lists, p)
    _check_references(questions, tabs, p)
    roles = _parse_roles(data, questions, p)
    followup_end = _parse_followup_end(data.get("followup_end"), questions, roles, p)
    keys = _parse_keys(data, questions, p)
    windows = _parse_windows(data, questions, p)
    copies = _parse_copies(data, questions, p)
    checks = _parse_checks(data.get("checks"), questions, p)
    order = _evaluation_order(questions, tabs, p)
    if p.items:
        raise DataFileError(path, p.items)
    return Definition(
        id=str(data["id"]),
        name=str(data["name"]),
        version=str(data["version"]),
        applies_from=applies_from,
        path=path,
        source=source,
        roles=dict(roles),
        keys=keys,
        tabs=tuple(tabs.values()),
        questions=questions,
        checks=checks,
        followup_windows=windows,
        evaluation_order=order,
        provisional_applies_from=bool(data.get("provisional_applies_from", False)),
        new_fracture_copies=copies,
        provisional=bool(data.get("provisional", False)),
        based_on=str(data["based_on"]) if data.get("based_on") else None,
        followup_end=followup_end,
        digest=_digest(data),
    )


def load_definition(
    path: Path | str,
    source: str = "bundled",
    bases: Mapping[str, Mapping[str, Any]] | None = None,
) -> Definition:
    path = Path(path)
    return parse_definition(read_toml(path), path, source, bases)


def dataset_files(paths: AppPaths | None) -> list[DataFile]:
    return find("dataset", paths)


def base_files(paths: AppPaths | None) -> dict[str, dict[str, Any]]:
    """The raw dataset files in use that a ``based_on`` may name, by id (overrides win)."""
    found: dict[str, dict[str, Any]] = {}
    for f in dataset_files(paths):
        try:
            raw = read_toml(f.path)
        except DataFileError:
            continue  # reported when that file itself is loaded
        if "based_on" not in raw and isinstance(raw.get("id"), str):
            found[raw["id"]] = raw
    return found


def bundled_bases() -> dict[str, dict[str, Any]]:
    return base_files(None)


def load_definitions(paths: AppPaths | None = None) -> DefinitionSet:
    """Load every dataset file in use (overrides first), failing loudly on any problem."""
    files = dataset_files(paths)
    bases = base_files(paths)
    # Files that others are based on first: a broken base is reported as itself, not as the
    # missing base of the files built on it.
    files.sort(key=lambda f: 0 if _file_id(f.path) in bases else 1)
    return DefinitionSet(load_definition(f.path, f.source, bases) for f in files)


def _file_id(path: Path) -> str | None:
    try:
        value = read_toml(path).get("id")
    except DataFileError:
        return None
    return value if isinstance(value, str) else None
