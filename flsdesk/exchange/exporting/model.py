"""The export's vocabulary: the errors, the report's rows, the plan and the result."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from flsdesk.answers import moment_for_people
from flsdesk.exchange import batches
from flsdesk.exchange.exporting.scope import Scope
from flsdesk.exchange.profiles import ExportProfile

HELD_NEEDS_CORRECTION = "Needs correction"  # only when the rules give no message (never seen)
HELD_OPTED_OUT = "Opted out of the National Data Opt-out: never sent to the FLS-DB"
HELD_OPTOUT_NOT_CHECKED = (
    "Not yet checked against the National Data Opt-out list, which Settings requires before "
    "export: use 'Mark these as checked against the list' (National Data Opt-out)"
)
WARN_OPTOUT_NOT_CHECKED = (
    "Not yet checked against the National Data Opt-out list (exported: Settings does not "
    "require the check)"
)
REQUIRE_OPTOUT_SETTING = "require_optout_check"

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class ExportError(Exception):
    """The export cannot go ahead. ``str()`` is a sentence for the user that names records by
    id and questions by number, never an answer, so it is also safe to log."""


class UnencodableCharacter(ExportError):
    def __init__(self, record_id: int, question: str, short_name: str, char: str, encoding: str):
        self.record_id = record_id
        self.question = question
        super().__init__(
            f"Record {record_id}, question {question} ({short_name}), holds a character "
            f"(U+{ord(char):04X}) that the export's encoding {encoding} cannot hold. Correct the "
            "answer, or choose another encoding in the export profile; nothing was written."
        )


class NothingToExport(ExportError):
    pass


class ExportCancelled(ExportError):
    pass


class ExportSuperseded(ExportError):
    """Another export was saved, sent or discarded (on another PC of the team, or in another
    window) between this one's report and its writing: what "since the last export" covers may
    have changed, so nothing was written and the export must be prepared again."""

    def __init__(self) -> None:
        super().__init__(
            "Another export was saved, sent or discarded (perhaps on another computer) while "
            "this one was being prepared, so its report may be out of date. Nothing was written: "
            "prepare the export again."
        )


class ReportRow(NamedTuple):
    """One line of the report. A named tuple: an export builds 50,000 of them."""

    record_id: int
    nhs_number: str | None
    diagnosed: date | None
    name: str | None
    status: str
    reason: str = ""  # why held back, or the warning


@dataclass(frozen=True)
class DeletedSinceSent:
    record_id: int
    nhs_number: str | None  # None once the record has been purged here
    diagnosed: date | None
    deleted_at: datetime | None  # naive UTC; None once purged
    reason: str | None
    last_sent: datetime  # naive UTC

    @property
    def purged(self) -> bool:
        return self.deleted_at is None


@dataclass
class ExportPlan:
    scope: Scope
    profile: ExportProfile
    header: list[str]
    going: list[ReportRow] = field(default_factory=list)
    held_back: list[ReportRow] = field(default_factory=list)
    warnings: list[ReportRow] = field(default_factory=list)
    deleted_since_sent: list[DeletedSinceSent] = field(default_factory=list)
    unchanged: int = 0  # live records in scope whose row is as last sent (since-last only)
    # Since-last only: exported-but-unconfirmed batches holding rows that go again.
    unconfirmed: list[batches.Unconfirmed] = field(default_factory=list)
    # Parallel to ``going``: the encoded row (line end included) and its SHA-256.
    row_bytes: list[bytes] = field(default_factory=list, repr=False)
    row_hashes: list[str] = field(default_factory=list, repr=False)
    header_bytes: bytes = b""
    # Rows rendered afresh, saved to the row cache with the batch (never by a dry run); when
    # the context changed, the old cache is dropped first.
    cache_updates: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    cache_context: str = ""
    cache_reset: bool = False
    # The outbox as the report saw it (batches.state_token): writing refuses a plan made before
    # another export changed it, so no change is sent twice and none skipped.
    batches_token: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.going

    def unconfirmed_lines(self) -> list[str]:
        """One sentence per saved file not marked as uploaded whose records go again."""
        out = []
        for u in self.unconfirmed:
            day = moment_for_people(u.batch.created_at)[:10]
            out.append(
                f"{u.records} record(s) are in the file of {day} (batch {u.batch.seq}) that is "
                "not marked as uploaded: they go again. If that file was uploaded in the webtool, "
                "mark it in the Outbox first."
            )
        return out

    def summary_line(self) -> str:
        """The report in one line, for clinicians: every count, no file-format jargon."""
        drafts = sum(1 for r in self.going if r.status == "Draft")
        text = (
            f"{len(self.going)} record(s) will go ({self.scope.describe()}; {drafts} draft(s) — "
            f"the webtool takes drafts). {len(self.held_back)} held back. "
            f"{len(self.warnings)} warning(s)."
        )
        if self.deleted_since_sent:
            text += f" {len(self.deleted_since_sent)} deleted here since they were sent."
        if self.scope.kind == "since-last":
            text += f" {self.unchanged} unchanged since they were last sent."
        for line in self.unconfirmed_lines():
            text += " " + line
        return text

    def file_bytes(self) -> Iterable[bytes]:
        """The file, chunk by chunk, exactly as the profile says."""
        end = self.profile.line_end.encode("ascii")
        if self.profile.final_line_end or not self.row_bytes:
            yield self.header_bytes
            yield from self.row_bytes
            return
        yield self.header_bytes
        yield from self.row_bytes[:-1]
        last = self.row_bytes[-1]
        yield last[: -len(end)] if last.endswith(end) else last


@dataclass(frozen=True)
class ExportResult:
    batch_id: str | None  # None for a dry run
    path: Path | None
    sha256: str
    records: int
    size: int
    deleted_reported: int
