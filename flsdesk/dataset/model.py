"""The dataset definition as typed, immutable objects: questions, answers, tabs, checks, keys,
follow-up windows, and the set of definition versions in use. Reading and checking the TOML
files is ``flsdesk.dataset.loader``'s job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from flsdesk import conditions as cond
from flsdesk.answers import Codec, QuestionType, codec_for, date_for_people, parse_iso_date
from flsdesk.datafiles import DataFileError

QUESTION_TYPES = tuple(QuestionType)
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Answer:
    label: str
    code: str | None = None
    tags: frozenset[str] = frozenset()
    exclusive: bool = False
    provisional: bool = False
    # Other texts an import file may hold for this answer of this question (e.g. "No" for
    # 5.01's "Not assessed"); never offered in the form, never written by the export.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    key: str  # the number ("1.11") or, for a local-only field, its name ("hospital_number")
    label: str
    tab: str
    type: QuestionType
    local: bool = False
    short_name: str | None = None
    answers: tuple[Answer, ...] = ()
    special_answers: tuple[str, ...] = ()
    lite: bool = False
    lite_when: cond.Condition | None = None
    applies_when: cond.Condition | None = None
    help: str = ""
    # One line the form shows in the question's place while it is hidden and
    # ``hidden_note_when`` holds (always, without it): why it is not asked.
    hidden_note: str = ""
    hidden_note_when: cond.Condition | None = None
    min: float | None = None
    max: float | None = None
    precision: int | None = None
    max_length: int | None = None
    multiline: bool = False
    provisional: tuple[str, ...] = ()  # which parts are provisional: "short name", "answers"…

    @property
    def number(self) -> str | None:
        return None if self.local else self.key

    @property
    def object_name(self) -> str:
        """The widget name the form, screen readers and tests find it by."""
        return f"local_{self.key}" if self.local else "q_" + self.key.replace(".", "_")

    @cached_property
    def codec(self) -> Codec:
        """How this question's answers are typed, shown, imported and exported."""
        return codec_for(self)

    @cached_property
    def answers_by_label(self) -> dict[str, Answer]:
        return {a.label: a for a in self.answers}

    def answer(self, label: str) -> Answer | None:
        return self.answers_by_label.get(label)

    @property
    def is_lite(self) -> bool:
        """Lite at all (always, or under its lite_when condition)."""
        return self.lite or self.lite_when is not None


@dataclass(frozen=True)
class Tab:
    id: str
    label: str
    applies_when: cond.Condition | None = None
    not_applicable_label: str = ""
    not_applicable_help: str = ""


@dataclass(frozen=True)
class Check:
    id: str
    kind: str
    severity: str
    message: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeySpec:
    primary: tuple[str, ...]
    fallback: tuple[str, ...] = ()
    fallback_when: cond.Condition | None = None
    provisional_fallback: bool = False


@dataclass(frozen=True)
class FollowupWindow:
    id: str
    label: str
    closed_by: str
    upcoming_from: int
    due_from: int
    overdue_from: int
    missed_from: int


@dataclass(frozen=True)
class FollowupEnd:
    """What ending follow-up for one reason implies (the definition's ``[followup_end]``)."""

    reason: str  # an answer of the local "follow-up ended" field
    words: str  # the reason as the patient list says it: "ended: moved away"
    # question -> the answer it gets when follow-up ends, if it is unanswered and applies then
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    id: str
    name: str
    version: str
    applies_from: date
    path: Path
    source: str
    roles: Mapping[str, Any]
    keys: KeySpec
    tabs: tuple[Tab, ...]
    questions: Mapping[str, Question]
    checks: tuple[Check, ...]
    followup_windows: tuple[FollowupWindow, ...]
    # Questions in an order where every question comes after those its applicability depends on.
    evaluation_order: tuple[str, ...]
    provisional_applies_from: bool = False
    new_fracture_copies: tuple[str, ...] = ()
    provisional: bool = False  # the whole file is a reasoned assumption
    based_on: str | None = None  # the id of the dataset this file gives only changes to
    followup_end: Mapping[str, FollowupEnd] = field(default_factory=dict)
    # Changes whenever anything in the (merged) file changes: the store re-evaluates its records
    # when the set of digests it last evaluated with differs.
    digest: str = ""

    @cached_property
    def tabs_by_id(self) -> dict[str, Tab]:
        return {t.id: t for t in self.tabs}

    @cached_property
    def exported_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions.values() if not q.local)

    @cached_property
    def local_fields(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions.values() if q.local)

    def role(self, name: str) -> str:
        return str(self.roles[name])

    def questions_on(self, tab_id: str) -> list[Question]:
        return [q for q in self.questions.values() if q.tab == tab_id]

    def tags_of(self, key: str, value: Any) -> frozenset[str]:
        q = self.questions.get(key)
        if q is None or not isinstance(value, str):
            return frozenset()
        answer = q.answer(value)
        return answer.tags if answer else frozenset()

    def record_key(self, effective: Mapping[str, Any], today: date | None = None) -> str | None:
        """The natural key used to match records, or None while a part of it is missing."""
        parts = self.keys.primary
        if self.keys.fallback_when is not None and cond.holds(
            self.keys.fallback_when,
            effective.get,
            today or date.today(),
            self.tags_of,
            parse_iso_date,
        ):
            parts = self.keys.fallback
        values = []
        for key in parts:
            value = effective.get(key)
            # Key parts are texts (NHS number, dates, answer labels); anything else cannot match.
            if not isinstance(value, str) or not value:
                return None
            values.append(f"{key}={value}")
        return "|".join(values)


class DefinitionSet:
    """Every dataset version in use; a record is checked against the version for its 1.09."""

    def __init__(self, definitions: Iterable[Definition]) -> None:
        self.definitions = sorted(definitions, key=lambda d: d.applies_from)
        if not self.definitions:
            raise DataFileError("datasets", ["no dataset definition file was found"])
        seen: dict[date, Definition] = {}
        for d in self.definitions:
            if d.applies_from in seen:
                raise DataFileError(
                    d.path,
                    [
                        f"applies from {date_for_people(d.applies_from)}, the same date as "
                        f"{seen[d.applies_from].path.name}: one of them must go"
                    ],
                )
            seen[d.applies_from] = d
        self.by_id = {d.id: d for d in self.definitions}

    @property
    def latest(self) -> Definition:
        return self.definitions[-1]

    @property
    def digest(self) -> str:
        """One text that changes whenever any definition in use changes."""
        parts = sorted(f"{d.id}:{d.digest}" for d in self.definitions)
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()

    def for_date(self, diagnosed: date | None) -> Definition:
        """The version for a diagnosis date; the newest while 1.09 is unknown.

        A date before every version uses the earliest (the rules then say it is too early).
        """
        if diagnosed is None:
            return self.latest
        chosen = self.definitions[0]
        for d in self.definitions:
            if d.applies_from <= diagnosed:
                chosen = d
        return chosen

    def for_answers(self, answers: Mapping[str, Any]) -> Definition:
        role = self.latest.role("diagnosed")
        return self.for_date(parse_iso_date(answers.get(role)))

    def get(self, definition_id: str) -> Definition:
        return self.by_id.get(definition_id) or self.latest

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.definitions)
