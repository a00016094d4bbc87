"""A cell of the file to the stored answer of its question (the stored forms of
docs/internal-contracts.md, as the form stores them)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flsdesk.dataset import Definition, Question
from flsdesk.exchange.importing.read import norm
from flsdesk.exchange.profiles import ExportProfile

# The spec's two date forms for import (section 7): the webtool's dd/mm/yyyy and ISO.
SPEC_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")


class CellReader:
    """Turns a cell into the stored answer for its question. A cell that cannot be read as its
    type is kept as found (``bad`` names the check kind that will report it), so the rules, not
    this class, decide what is an error."""

    def __init__(self, definition: Definition, profile: ExportProfile) -> None:
        self.profile = profile
        self.aliases = dict(profile.import_answer_aliases)
        formats = [profile.date_format, *SPEC_DATE_FORMATS]
        self.date_formats = tuple(dict.fromkeys(formats))
        self.lookup: dict[str, dict[str, str]] = {}
        self.order: dict[str, dict[str, int]] = {}
        for q in definition.questions.values():
            if q.type not in ("single", "multi"):
                continue
            table: dict[str, str] = {}
            for a in q.answers:
                table.setdefault(norm(a.label), a.label)
                if a.code:
                    table.setdefault(norm(a.code), a.label)
            for a in q.answers:
                # The definition's own aliases for this question (5.01 "No" = "Not assessed").
                for alias in a.aliases:
                    table.setdefault(norm(alias), a.label)
            for text, label in self.aliases.items():
                if q.answer(label) is not None:
                    table.setdefault(norm(text), label)
            self.lookup[q.key] = table
            self.order[q.key] = {a.label: i for i, a in enumerate(q.answers)}
        self._dates: dict[str, str | None] = {}

    def read(self, q: Question, text: str) -> tuple[Any, str | None]:
        """(stored value, None) or (the text as found, the check kind that will reject it)."""
        if q.type == "nhs":
            for special in q.special_answers:
                if text.casefold() == special.casefold():
                    return special, None
            compact = re.sub(r"[\s\-]", "", text)
            if compact.isascii() and compact.isdigit():
                return compact, None
            return text, "nhs_number"
        if q.type == "date":
            for special in q.special_answers:
                if text.casefold() == special.casefold():
                    return special, None
            iso = self._date(text)
            return (iso, None) if iso is not None else (text, "valid_date")
        if q.type == "number":
            return read_number(text, self.profile.decimal_mark)
        if q.type == "single":
            label = self._answer(q.key, text)
            return (label, None) if label is not None else (text, "answer_offered")
        if q.type == "multi":
            parts = [p.strip() for p in text.split(self.profile.multi_joiner)]
            labels: list[str] = []
            bad = None
            for part in parts:
                if not part:
                    continue
                label = self._answer(q.key, part)
                if label is None:
                    labels.append(part)
                    bad = "answer_offered"
                elif label not in labels:
                    labels.append(label)
            order = self.order[q.key]
            labels.sort(key=lambda v: order.get(v, len(order)))
            return labels, bad
        return text, None

    def _answer(self, key: str, text: str) -> str | None:
        alias = self.aliases.get(text)
        table = self.lookup[key]
        if alias is not None and norm(alias) in table:
            return table[norm(alias)]
        return table.get(norm(text))

    def _date(self, text: str) -> str | None:
        if text in self._dates:
            return self._dates[text]
        found = None
        for fmt in self.date_formats:
            try:
                found = datetime.strptime(text, fmt).date().isoformat()
                break
            except ValueError:
                continue
        if len(self._dates) < 100_000:
            self._dates[text] = found
        return found


def read_number(text: str, mark: str) -> tuple[Any, str | None]:
    cleaned = text.replace("\u2212", "-")  # a typographic minus pasted from a letter
    if mark != ".":
        cleaned = cleaned.replace(mark, ".")
    try:
        return int(cleaned), None
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        return text, "number"
    if value != value or value in (float("inf"), float("-inf")):
        return text, "number"
    return value, None
