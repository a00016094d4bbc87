"""What an answer of each question type looks like: the one place that parses and formats one.

Four translations per type, plus the type check the rules use:

- typed text → stored value (the form; never refuses: text that cannot be read is kept as typed
  and the rules report it),
- stored value → display text (dates dd/mm/yyyy, NHS numbers 3-3-4, several answers joined),
- CSV cell → stored value and stored value → CSV cell, under a :class:`CsvStyle` (what an export
  profile says about dates, decimal marks, joiners, codes and aliases),
- ``well_formed(value)``: is the stored value in its type's stored form
  (``docs/internal-contracts.md``)?

No Qt and no store here, so the form, the importer, the exporter and the rules all share it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the model imports QuestionType from here: no runtime import back
    from flsdesk.dataset import Question


class QuestionType(StrEnum):
    """A question's type; a ``StrEnum`` so the TOML's plain strings compare and load as it."""

    NHS = "nhs"
    DATE = "date"
    SINGLE = "single"
    MULTI = "multi"
    NUMBER = "number"
    TEXT = "text"


# The only spelling of the UK date people read and type; profiles carry their own CSV formats.
DATE_FORMAT = "%d/%m/%Y"
MOMENT_FORMAT = f"{DATE_FORMAT} %H:%M"
# What an import cell may hold besides the profile's own date format.
SPEC_DATE_FORMATS = (DATE_FORMAT, "%Y-%m-%d")

# ---------------------------------------------------------------------------------------------
# Small value helpers (never raise)
# ---------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# d/m/yyyy with / . or - between the parts, as people type dates in the UK.
_DMY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")
_NHS_SEPARATORS = re.compile(r"[\s\-]")
# Beyond this an int is no answer a person typed, and turning it into a float or text can fail.
_LARGEST_NUMBER = 10**15


def parse_iso_date(value: Any) -> date | None:
    """A stored date answer as a date, or None for anything else (never raises).

    Only YYYY-MM-DD: ``date.fromisoformat`` also takes week dates such as 2025-W02-1.
    """
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def date_for_people(value: date | datetime | str | None) -> str:
    """A date as dd/mm/yyyy; a stored ISO date string too. Anything else is shown unchanged
    (a special answer such as "Not known" is not a date), None as nothing."""
    if value is None:
        return ""
    if isinstance(value, date):  # datetime is a date too: its calendar day as stored
        return value.strftime(DATE_FORMAT)
    parsed = parse_iso_date(value)
    return parsed.strftime(DATE_FORMAT) if parsed else str(value)


def moment_for_people(at: datetime) -> str:
    """A stored moment (naive UTC, as the store keeps them) as local dd/mm/yyyy HH:MM."""
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone().strftime(MOMENT_FORMAT)


def nhs_digits(text: str) -> str | None:
    """The NHS number's digits without the spaces or hyphens people type, or None when what is
    left is not all digits. The one normaliser: search, import, form and opt-out lists use it."""
    compact = _NHS_SEPARATORS.sub("", text)
    return compact if compact and compact.isascii() and compact.isdigit() else None


def nhs_number_valid(value: str) -> bool:
    """NHS Digital's Modulus 11 check; ten identical digits are refused too."""
    digits = value.replace(" ", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    if len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def nhs_for_people(value: Any) -> str:
    """3-3-4, as printed on NHS cards; anything else as it is."""
    if value is None:
        return ""
    text = str(value)
    if len(text) == 10 and text.isascii() and text.isdigit():
        return f"{text[:3]} {text[3:6]} {text[6:]}"
    return text


def is_number(value: Any) -> bool:
    """A stored number answer: an int or a finite float, never a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) < _LARGEST_NUMBER
    return math.isfinite(value)


def parse_number(text: str, decimal_mark: str = ".") -> int | float | None:
    """An int when no decimals were written, a float otherwise; None when it is not a number
    (nan and infinity are not numbers a person means)."""
    cleaned = text.strip().replace("\u2212", "-")  # a typographic minus pasted from a letter
    if decimal_mark != ".":
        cleaned = cleaned.replace(decimal_mark, ".")
    if not cleaned:
        return None
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return value


def format_number(value: float | None, precision: int | None = None) -> str:
    """A number as people read it: no ".0" on a whole number, ``precision`` places if given."""
    if value is None:
        return ""
    if precision:
        return f"{value:.{precision}f}"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _special(text: str, specials: tuple[str, ...]) -> str | None:
    for special in specials:
        if text.casefold() == special.casefold():
            return special
    return None


def _norm(text: str) -> str:
    """How answer texts are compared on import: case, surrounding and repeated spaces ignored."""
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------------------------------------
# Typed text → stored value (the form never refuses: unreadable text is kept as typed)
# ---------------------------------------------------------------------------------------------


def nhs_from_text(text: str, special_answers: tuple[str, ...] = ()) -> str | None:
    """Digits without the spaces people type (``943 476 5919``); a special answer such as
    OVERSEAS in any case; anything else kept as typed (minus surrounding spaces)."""
    stripped = text.strip()
    if not stripped:
        return None
    return _special(stripped, special_answers) or nhs_digits(stripped) or stripped


def date_from_text(text: str, special_answers: tuple[str, ...] = ()) -> str | None:
    """ISO ``YYYY-MM-DD`` for a real date typed as dd/mm/yyyy; a special answer by its label
    (any case); ``None`` for blank; anything else as typed (the rules make it an error)."""
    stripped = text.strip()
    if not stripped:
        return None
    special = _special(stripped, special_answers)
    if special is not None:
        return special
    match = _DMY.match(stripped)
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return stripped  # 31/02/2024: kept as typed, reported by the rules
    # Anything else, an ISO date pasted from elsewhere included, is kept as typed.
    return stripped


def number_from_text(text: str) -> int | float | str | None:
    """An int when no decimals were typed, a float otherwise; blank is ``None``; text that is
    not a number is kept as typed (the rules report "must be a number")."""
    stripped = text.strip()
    if not stripped:
        return None
    number = parse_number(stripped)
    return stripped if number is None else number


def text_from_text(text: str, multiline: bool) -> str | None:
    """Single-line text loses surrounding spaces; notes keep their layout but not trailing
    blank lines."""
    value = text.rstrip() if multiline else text.strip()
    return value or None


def number_for_people(value: Any) -> str:
    if value is None:
        return ""
    if not is_number(value):
        return str(value)
    return format_number(value)


@lru_cache(maxsize=100_000)
def _date_from_cell(text: str, formats: tuple[str, ...]) -> str | None:
    # An export of 50,000 records repeats the same few hundred dates: parse each once.
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


@lru_cache(maxsize=64)
def _aliases(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


# ---------------------------------------------------------------------------------------------
# CSV style: what a profile says about cells
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvStyle:
    """The cell conventions of one export profile. ``answer_aliases`` are the profile's import
    aliases (text in a file → an answer's label), as pairs so the style is hashable."""

    date_format: str = DATE_FORMAT
    decimal_mark: str = "."
    whole_numbers_without_decimals: bool = True
    answers_as_code: bool = False
    multi_joiner: str = ";"
    nhs_spaced: bool = False
    answer_aliases: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of_profile(cls, profile: Any) -> CsvStyle:
        """The style of an ``ExportProfile`` (read by attribute, so the core needs no import
        of the exchange package)."""
        return cls(
            date_format=profile.date_format,
            decimal_mark=profile.decimal_mark,
            whole_numbers_without_decimals=profile.whole_numbers_without_decimals,
            answers_as_code=profile.answers == "code",
            multi_joiner=profile.multi_joiner,
            nhs_spaced=profile.nhs_format == "spaced",
            answer_aliases=tuple(dict(profile.import_answer_aliases).items()),
        )

    @property
    def read_date_formats(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.date_format, *SPEC_DATE_FORMATS)))


# A cell the codec cannot read comes back as found, with the check kind that will report it.
CellResult = tuple[Any, str | None]


# ---------------------------------------------------------------------------------------------
# Codecs, one per type
# ---------------------------------------------------------------------------------------------


class Codec:
    """How answers of one question are read and written. Build with :func:`codec_for`."""

    check_kind: str | None = None  # the rule kind that reports a value not in stored form

    def __init__(self, question: Question) -> None:
        self.question = question

    def from_text(self, text: str) -> Any:
        """Typed text → stored value; blank is None; unreadable text kept as typed."""
        stripped = text.strip()
        return stripped or None

    def to_text(self, value: Any) -> str:
        """Stored value → what the screen shows."""
        return "" if value is None else str(value)

    def from_cell(self, text: str, style: CsvStyle) -> CellResult:
        """A non-empty CSV cell → (stored value, None) or (the text, the check kind)."""
        return text, None

    def to_cell(self, value: Any, style: CsvStyle) -> str:
        """An answered stored value → its CSV cell."""
        return str(value)

    def cell_writer(self, style: CsvStyle) -> Callable[[Any], str]:
        """``to_cell`` with the style bound, for the exporter's loop."""
        return lambda value: self.to_cell(value, style)

    def well_formed(self, value: Any) -> bool:
        """The type check: is an answered value in this type's stored form?"""
        return True

    def offered(self, value: Any) -> list[Any]:
        """The stored values that are not in this type's stored form (empty when all are)."""
        return [] if self.well_formed(value) else [value]


class NhsCodec(Codec):
    check_kind = "nhs_number"

    def from_text(self, text: str) -> Any:
        return nhs_from_text(text, self.question.special_answers)

    def to_text(self, value: Any) -> str:
        return nhs_for_people(value)

    def from_cell(self, text: str, style: CsvStyle) -> CellResult:
        special = _special(text, self.question.special_answers)
        if special is not None:
            return special, None
        digits = nhs_digits(text)
        return (digits, None) if digits is not None else (text, self.check_kind)

    def to_cell(self, value: Any, style: CsvStyle) -> str:
        text = str(value)
        if text in self.question.special_answers:
            return text
        digits = text.replace(" ", "")
        if style.nhs_spaced and len(digits) == 10:
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
        return digits

    def well_formed(self, value: Any) -> bool:
        return isinstance(value, str) and (
            value in self.question.special_answers or nhs_number_valid(value)
        )


class DateCodec(Codec):
    check_kind = "valid_date"

    def from_text(self, text: str) -> Any:
        return date_from_text(text, self.question.special_answers)

    def to_text(self, value: Any) -> str:
        return "" if value is None else date_for_people(value)

    def from_cell(self, text: str, style: CsvStyle) -> CellResult:
        special = _special(text, self.question.special_answers)
        if special is not None:
            return special, None
        iso = _date_from_cell(text, style.read_date_formats)
        return (iso, None) if iso is not None else (text, self.check_kind)

    def to_cell(self, value: Any, style: CsvStyle) -> str:
        if value in self.question.special_answers:
            return str(value)  # 3.03 "Patient did not attend" goes in the date's column
        parsed = parse_iso_date(value)
        return parsed.strftime(style.date_format) if parsed else str(value)

    def well_formed(self, value: Any) -> bool:
        return value in self.question.special_answers or parse_iso_date(value) is not None


class NumberCodec(Codec):
    check_kind = "number"

    def from_text(self, text: str) -> Any:
        return number_from_text(text)

    def to_text(self, value: Any) -> str:
        return number_for_people(value)

    def from_cell(self, text: str, style: CsvStyle) -> CellResult:
        number = parse_number(text, style.decimal_mark)
        return (text, self.check_kind) if number is None else (number, None)

    def to_cell(self, value: Any, style: CsvStyle) -> str:
        if isinstance(value, str):
            text: str = value
            try:
                value = float(text)
            except ValueError:
                return text
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        precision = self.question.precision
        if isinstance(value, int) or (style.whole_numbers_without_decimals and value.is_integer()):
            text = str(int(value))
        elif precision:
            text = f"{value:.{precision}f}"
        else:
            text = repr(float(value))
        if re.fullmatch(r"-0(\.0*)?", text):
            text = text[1:]  # no "-0.0" from rounding a tiny negative
        return text.replace(".", style.decimal_mark) if style.decimal_mark != "." else text

    def well_formed(self, value: Any) -> bool:
        return is_number(value)


class TextCodec(Codec):
    check_kind = "text_kind"

    def from_text(self, text: str) -> Any:
        return text_from_text(text, self.question.multiline)

    def well_formed(self, value: Any) -> bool:
        return isinstance(value, str)


class ChoiceCodec(Codec):
    """``single`` and ``multi``: answers are stored by label; a file may say a code or alias."""

    check_kind = "answer_offered"

    def __init__(self, question: Question) -> None:
        super().__init__(question)
        self.multi = question.type == QuestionType.MULTI
        self._order = {a.label: i for i, a in enumerate(question.answers)}
        self._lookups: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def _lookup(self, style: CsvStyle) -> dict[str, str]:
        table = self._lookups.get(style.answer_aliases)
        if table is None:
            q = self.question
            table = {}
            for a in q.answers:
                table.setdefault(_norm(a.label), a.label)
                if a.code:
                    table.setdefault(_norm(a.code), a.label)
            for a in q.answers:
                # The definition's own aliases for this question (5.01 "No" = "Not assessed").
                for alias in a.aliases:
                    table.setdefault(_norm(alias), a.label)
            for text, label in style.answer_aliases:
                if q.answer(label) is not None:
                    table.setdefault(_norm(text), label)
            self._lookups[style.answer_aliases] = table
        return table

    def _label(self, text: str, style: CsvStyle) -> str | None:
        table = self._lookup(style)
        alias = _aliases(style.answer_aliases).get(text) if style.answer_aliases else None
        if alias is not None and _norm(alias) in table:
            return table[_norm(alias)]
        return table.get(_norm(text))

    def sort(self, labels: list[str]) -> list[str]:
        """Labels in the definition's order (unknown ones last, by text)."""
        order = self._order
        return sorted(labels, key=lambda v: (order.get(v, len(order)), v))

    def from_text(self, text: str) -> Any:
        stripped = text.strip()
        if not stripped:
            return [] if self.multi else None
        if not self.multi:
            return stripped
        return [p.strip() for p in stripped.split(";") if p.strip()]

    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, list):
            return "; ".join(str(v) for v in value)
        return str(value)

    def from_cell(self, text: str, style: CsvStyle) -> CellResult:
        if not self.multi:
            label = self._label(text, style)
            return (label, None) if label is not None else (text, self.check_kind)
        labels: list[str] = []
        bad = None
        for part in (p.strip() for p in text.split(style.multi_joiner)):
            if not part:
                continue
            label = self._label(part, style)
            if label is None:
                labels.append(part)
                bad = self.check_kind
            elif label not in labels:
                labels.append(label)
        order = self._order
        labels.sort(key=lambda v: order.get(v, len(order)))
        return labels, bad

    def _out(self, style: CsvStyle) -> dict[str, str]:
        return {
            a.label: (a.code if style.answers_as_code and a.code else a.label)
            for a in self.question.answers
        }

    def to_cell(self, value: Any, style: CsvStyle) -> str:
        return self.cell_writer(style)(value)

    def cell_writer(self, style: CsvStyle) -> Callable[[Any], str]:
        out = self._out(style)
        if not self.multi:
            return lambda value: out.get(value, str(value))
        joiner = style.multi_joiner

        def write(value: Any) -> str:
            values = value if isinstance(value, list) else [value]
            return joiner.join(out.get(v, v) for v in self.sort([str(v) for v in values]))

        return write

    def offered(self, value: Any) -> list[Any]:
        """The values not offered by the question (empty when every one is)."""
        values = value if self.multi and isinstance(value, list) else [value]
        return [v for v in values if not isinstance(v, str) or self.question.answer(v) is None]

    def well_formed(self, value: Any) -> bool:
        return not self.offered(value)


_CODECS: Mapping[str, type[Codec]] = {
    QuestionType.NHS: NhsCodec,
    QuestionType.DATE: DateCodec,
    QuestionType.NUMBER: NumberCodec,
    QuestionType.TEXT: TextCodec,
    QuestionType.SINGLE: ChoiceCodec,
    QuestionType.MULTI: ChoiceCodec,
}


def codec_for(question: Question) -> Codec:
    """The codec of a question (its type, its special answers, its answer list)."""
    return _CODECS[question.type](question)


def answer_for_people(question: Question | None, value: Any) -> str:
    """Any stored answer as a person reads it; a question unknown to the definition as str."""
    if value is None:
        return ""
    if question is None:
        return "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return codec_for(question).to_text(value)
