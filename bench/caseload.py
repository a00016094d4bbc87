"""A seeded synthetic caseload: realistic answer dicts for the benchmark (and demos).

Every label comes from the loaded definition, and every question number from its roles and its
question list, so a corrected definition file changes the caseload with it. Nothing here is a
real patient: names are drawn from short lists, NHS numbers are made-up valid Modulus 11 numbers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from flsdesk.dataset import Definition, Question
from flsdesk.rules import applicability

_GIVEN = ["Ada", "Brian", "Carys", "Dev", "Elsie", "Farid", "Gwen", "Hamish", "Iris", "Jun"]
_FAMILY = ["Ashby", "Brook", "Carter", "Dunn", "Evans", "Frost", "Gill", "Hale", "Ince", "Joshi"]
_START = date(2020, 1, 1)


def nhs_number(rng: random.Random) -> str:
    """A made-up NHS number with a valid Modulus 11 check digit."""
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10 and len(set(digits)) > 1:
            return "".join(map(str, digits)) + str(check)


def _section(key: str) -> str:
    return key.split(".", 1)[0]


class Caseload:
    """``Caseload(definition, seed).records(n)`` yields ``n`` answer dicts, the same for a seed."""

    def __init__(self, definition: Definition, seed: int = 2024, today: date | None = None):
        self.definition = definition
        self.today = today or date.today()
        self.rng = random.Random(seed)
        role = definition.role
        self._fu16_section = _section(role("followup_16"))
        self._fu52_section = _section(role("followup_52"))
        self._ended = role("followup_ended_reason")

    def records(self, n: int) -> Iterator[dict[str, Any]]:
        for _ in range(n):
            yield self.record()

    def record(self) -> dict[str, Any]:
        d, rng, role = self.definition, self.rng, self.definition.role
        span = (self.today - timedelta(days=30) - _START).days
        diagnosed = _START + timedelta(days=rng.randrange(span))
        born = diagnosed - timedelta(days=rng.randint(50 * 366, 95 * 365))
        answers: dict[str, Any] = {}
        for q in d.questions.values():
            value = self._answer(q, diagnosed)
            if value is not None:
                answers[q.key] = value
        nhs_question = d.questions[role("nhs_number")]
        special = list(nhs_question.special_answers)
        answers[role("nhs_number")] = (
            special[0] if special and rng.random() < 0.01 else nhs_number(rng)
        )
        answers[role("diagnosed")] = diagnosed.isoformat()
        answers[role("date_of_birth")] = born.isoformat()
        answers[role("patient_name")] = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"
        answers[role("hospital_number")] = f"H{rng.randrange(10**7):07d}"
        # Keep only what applies (a person only answers what the form shows), then leave a few
        # questions blank so that some records are drafts.
        _, _, effective = applicability(d, answers, self.today)
        return {k: v for k, v in effective.items() if rng.random() > 0.02}

    def _answer(self, q: Question, diagnosed: date) -> Any:
        rng = self.rng
        if q.key == self._ended:
            # Most follow-ups run their course; a few end early (died, moved away…).
            return rng.choice(q.answers).label if q.answers and rng.random() < 0.08 else None
        if q.type == "single" and q.answers:
            return rng.choice(q.answers).label
        if q.type == "multi" and q.answers:
            plain = [a.label for a in q.answers if not a.exclusive]
            exclusive = [a.label for a in q.answers if a.exclusive]
            if exclusive and (not plain or rng.random() < 0.3):
                return [rng.choice(exclusive)]
            picked = set(rng.sample(plain, k=min(len(plain), rng.choice((1, 1, 1, 2)))))
            return [label for label in plain if label in picked]
        if q.type == "date":
            section = _section(q.key)
            if section == self._fu16_section:
                offset = rng.randint(90, 125)
            elif section == self._fu52_section:
                offset = rng.randint(340, 390)
            else:
                offset = rng.randint(0, 90)
            when = diagnosed + timedelta(days=offset)
            return when.isoformat() if when <= self.today else None
        if q.type == "number":
            low = q.min if q.min is not None else 0
            high = q.max if q.max is not None else 10
            if q.precision:
                return round(rng.uniform(low, high), q.precision)
            # Counts (new fractures…) are mostly small.
            return round(rng.triangular(low, high, low))
        if q.type == "text":
            return None if q.local else (rng.choice(["AB1 2CD", "NA"]) if q.max_length else None)
        return None
