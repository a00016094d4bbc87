"""The import's vocabulary: the outcomes, the errors, and the plan a dry run returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

NEW = "new"
UPDATED = "updated"
UNCHANGED = "unchanged"
REJECTED = "rejected"
OUTCOMES = (NEW, UPDATED, UNCHANGED, REJECTED)

# How a bad value is quoted in a reason: enough to recognise it, never a screenful.
QUOTE_LIMIT = 60

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ImportFailed(Exception):
    """The import cannot go ahead. ``str()`` is a sentence for the user holding no patient data
    (safe to log)."""


class ImportCancelled(ImportFailed):
    pass


class RowsRejected(ImportFailed):
    """Some rows are rejected and ``skip_invalid`` was not given: nothing was applied."""


class StoreChanged(ImportFailed):
    """The store changed after the dry run: the plan may no longer be true."""


class Unreadable(ImportFailed):
    pass


@dataclass(frozen=True)
class Column:
    index: int  # 0-based position in the file
    header: str
    question: str | None  # None: ignored
    how: str  # "number", "short name", "alias", "webtool column", "unknown"

    @property
    def ignored(self) -> bool:
        return self.question is None

    @property
    def reason(self) -> str:
        """Why a column is ignored, for the report."""
        if self.how == "webtool column":
            return "the webtool's own column (listed in the export profile as ignored)"
        if self.how == "duplicate":
            return "a second column for the same question (the first one is read)"
        return "not a question of the dataset, nor a column the export profile knows"


@dataclass(frozen=True)
class Problem:
    line: int
    column: str  # the header of the column, "" for the row as a whole
    question: str | None
    reason: str
    value: str | None = None  # the cell as found in the file (quoted in the report)

    def describe(self) -> str:
        where = f"line {self.line}" + (f', column "{self.column}"' if self.column else "")
        quoted = "" if self.value is None else f" (value {quote(self.value)})"
        return f"{where}: {self.reason}{quoted}"


@dataclass
class RowResult:
    line: int  # the file line the row starts on (the header is line 1)
    outcome: str
    record_id: int | None = None
    nhs_number: str | None = None
    diagnosed: str | None = None  # ISO
    changed: tuple[str, ...] = ()  # question keys, in the definition's order
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # For apply: the answers to store, the derived columns, the answers replaced.
    answers: dict[str, Any] | None = field(default=None, repr=False)
    derived: dict[str, Any] | None = field(default=None, repr=False)
    old_answers: dict[str, Any] | None = field(default=None, repr=False)
    key: str | None = field(default=None, repr=False)


@dataclass
class ImportPlan:
    path: Path | None
    file_name: str
    encoding: str | None = None
    header_style: str | None = None  # "number_and_short_name", "short_name" or "mixed"
    columns: list[Column] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    unreadable: str | None = None  # why the file cannot be read at all (then no rows)
    fingerprint: tuple[int, int] = (0, 0)  # (newest audit id, records) when planned
    today: date | None = None

    def of(self, outcome: str) -> list[RowResult]:
        return [r for r in self.rows if r.outcome == outcome]

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OUTCOMES, 0)
        for r in self.rows:
            out[r.outcome] += 1
        return out

    @property
    def ignored_columns(self) -> list[Column]:
        return [c for c in self.columns if c.ignored]

    @property
    def rejected(self) -> int:
        return self.counts[REJECTED]

    @property
    def valid(self) -> int:
        return len(self.rows) - self.rejected

    @property
    def warning_count(self) -> int:
        return sum(len(r.warnings) for r in self.rows)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    skipped: int  # rejected rows left out (skip_invalid)
    new_ids: tuple[int, ...] = ()


def quote(value: str) -> str:
    """A cell as the report quotes it: control characters shown, long values cut short."""
    text = value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1] + "…"
    return f'"{text}"'
