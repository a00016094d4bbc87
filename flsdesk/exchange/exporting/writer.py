"""A record's row in the profile's CSV dialect and encoding: the columns, the header, each
answer's cell."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flsdesk.answers import CsvStyle, codec_for
from flsdesk.dataset import Definition, Question
from flsdesk.exchange.exporting.model import ExportError, UnencodableCharacter
from flsdesk.exchange.profiles import ExportProfile


def freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def formatter(profile: ExportProfile, q: Question) -> Callable[[Any], str]:
    """An answered value's cell, through the question's codec (``flsdesk.answers``)."""
    return codec_for(q).cell_writer(CsvStyle.of_profile(profile))


def columns_for(definition: Definition, profile: ExportProfile) -> list[Question]:
    if profile.column_order is None:
        return list(definition.exported_questions)
    columns = []
    for key in profile.column_order:
        q = definition.questions.get(key)
        if q is None or q.local:
            raise ExportError(
                f"The export profile {profile.path.name} lists column {key}, which is not a "
                f"question of the dataset {definition.id}: a file must never hold a column the "
                "dataset lacks."
            )
        columns.append(q)
    return columns


def header_cells(columns: Sequence[Question], profile: ExportProfile) -> list[str]:
    if profile.header_style == "short_name":
        return [str(q.short_name) for q in columns]
    return [f"{q.key}{profile.header_separator}{q.short_name}" for q in columns]


class RowWriter:
    """Formats one record's row in the profile's CSV dialect and encoding.

    Formatting is memoised per question and stored value (dates, answers and numbers repeat
    across a caseload), and a cell is quoted as ``csv.writer`` would quote it — a test checks
    the two agree — because the per-row csv.writer round trip dominated the export's time.
    """

    def __init__(self, profile: ExportProfile, columns: Sequence[Question]) -> None:
        self.profile = profile
        self.columns = list(columns)
        self.position = {q.key: i for i, q in enumerate(self.columns)}
        self.formatters: dict[str, dict[str, Callable[[Any], str]]] = {}
        self.memo: dict[str, dict[str, dict[Any, str]]] = {}
        quote = profile.quote_char
        self._special = (profile.delimiter, quote, "\r", "\n")
        self._quote_all = profile.quoting == "all"
        self._quote = quote
        self._doubled = quote + quote
        self._delimiter = profile.delimiter
        self._end = profile.line_end
        self._empty_cell = self._quoted(profile.empty)

    def _quoted(self, cell: str) -> str:
        q = self._quote
        if self._quote_all or any(ch in cell for ch in self._special):
            return q + cell.replace(q, self._doubled) + q
        return cell

    def _formatters_for(self, definition: Definition) -> dict[str, Callable[[Any], str]]:
        found = self.formatters.get(definition.id)
        if found is None:
            found = {
                q.key: formatter(self.profile, definition.questions.get(q.key, q))
                for q in self.columns
            }
            self.formatters[definition.id] = found
            self.memo[definition.id] = {q.key: {} for q in self.columns}
        return found

    def cells(self, definition: Definition, effective: Mapping[str, Any]) -> list[str]:
        """The row's cells, already quoted for the file."""
        fmts = self._formatters_for(definition)
        memo = self.memo[definition.id]
        position = self.position
        out = [self._empty_cell] * len(self.columns)
        for key, value in effective.items():
            i = position.get(key)
            if i is None:  # a local-only field, never a column
                continue
            cache = memo[key]
            hashable = freeze(value)
            cell = cache.get(hashable)
            if cell is None:
                cell = self._quoted(fmts[key](value))
                if len(cache) < 20_000:  # free text would otherwise grow it without bound
                    cache[hashable] = cell
            out[i] = cell
        if len(out) == 1 and out[0] == "":
            out[0] = self._quote * 2  # as csv.writer: a lone empty cell would be a blank line
        return out

    def line(self, cells: Sequence[str]) -> str:
        return self._delimiter.join(cells) + self._end

    def header_line(self, header: Sequence[str]) -> str:
        return self.line([self._quoted(h) for h in header])

    def encode(self, record_id: int, cells: Sequence[str]) -> bytes:
        text = self.line(cells)
        encoding = self.profile.encoding
        try:
            # A BOM belongs to the file, not to each row.
            return text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeEncodeError:
            for q, cell in zip(self.columns, cells, strict=True):
                try:
                    cell.encode(encoding)
                except UnicodeEncodeError as exc:
                    char = cell[exc.start]
                    raise UnencodableCharacter(
                        record_id, q.key, str(q.short_name), char, encoding
                    ) from None
            raise
