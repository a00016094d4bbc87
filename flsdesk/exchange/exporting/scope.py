"""Which records an export covers: since the last sent export, one month, or all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Scope:
    kind: str  # "since-last", "month" or "all"
    year: int = 0
    month: int = 0

    @classmethod
    def since_last(cls) -> Scope:
        return cls("since-last")

    @classmethod
    def all(cls) -> Scope:
        return cls("all")

    @classmethod
    def of_month(cls, year: int, month: int) -> Scope:
        if not 1 <= month <= 12 or not 1900 <= year <= 9999:
            raise ValueError("a month is YYYY-MM")
        return cls("month", year, month)

    @classmethod
    def parse(cls, text: str) -> Scope:
        """ "since-last", "all", "month:YYYY-MM" or "YYYY-MM"."""
        if text in ("since-last", "all"):
            return cls(text)
        m = re.fullmatch(r"(?:month:)?(\d{4})-(\d{2})", text.strip())
        if not m:
            raise ValueError(f"{text!r} is not a scope: since-last, all or YYYY-MM")
        return cls.of_month(int(m.group(1)), int(m.group(2)))

    @property
    def label(self) -> str:
        return f"month:{self.year:04d}-{self.month:02d}" if self.kind == "month" else self.kind

    def describe(self) -> str:
        if self.kind == "since-last":
            return "new or changed since the last sent export"
        if self.kind == "all":
            return "every record"
        return f"diagnosed in {date(self.year, self.month, 1):%B %Y}"

    def bounds(self) -> tuple[str, str] | None:
        """ISO dates [first, next month's first) for a month scope."""
        if self.kind != "month":
            return None
        nxt = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return f"{self.year:04d}-{self.month:02d}-01", f"{nxt[0]:04d}-{nxt[1]:02d}-01"
