"""A cell of the file to the stored answer of its question, through the question's codec
(``flsdesk.answers``: the one place that reads and writes an answer of each type)."""

from __future__ import annotations

from typing import Any

from flsdesk.answers import Codec, CsvStyle, QuestionType, codec_for
from flsdesk.dataset import Definition, Question
from flsdesk.exchange.profiles import ExportProfile

# A file of 50,000 rows repeats a few thousand dates: each distinct cell is parsed once, up to
# this many (beyond, free-text-like variety would only grow the memo).
DATE_MEMO_LIMIT = 100_000


class CellReader:
    """Turns a cell into the stored answer for its question, for one dataset version. A cell
    that cannot be read as its type is kept as found (``bad`` names the check kind that will
    report it), so the rules, not this class, decide what is an error."""

    def __init__(self, definition: Definition, profile: ExportProfile) -> None:
        self.style = CsvStyle.of_profile(profile)
        self.codecs: dict[str, Codec] = {q.key: codec_for(q) for q in definition.questions.values()}
        self._dates: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def read(self, q: Question, text: str) -> tuple[Any, str | None]:
        """(stored value, None) or (the text as found, the check kind that will reject it)."""
        codec = self.codecs.get(q.key) or codec_for(q)
        if q.type != QuestionType.DATE:
            return codec.from_cell(text, self.style)
        memo = (q.key, text)  # keyed by question: special answers differ between dates
        found = self._dates.get(memo)
        if found is None:
            found = codec.from_cell(text, self.style)
            if len(self._dates) < DATE_MEMO_LIMIT:
                self._dates[memo] = found
        return found
