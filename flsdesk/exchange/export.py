"""The monthly export for the FLS-DB: the report first, then the CSV exactly as the profile says.

``prepare`` reads the store and builds an ``ExportPlan``: the rows that will go (drafts included —
the webtool takes drafts), the records held back and why, warnings, and the records deleted here
since they were sent (to delete in the webtool too). ``write`` writes the plan's file atomically
and records it as a batch. Nothing in between touches the store, so a dry run is ``prepare``
plus ``write(dry_run=True)``.

Rows are built from the *effective* answers (hidden answers are absent everywhere): a hidden 6.06
on a hip record is an empty cell, and editing a hidden answer does not change the row, so it
does not make the record "changed since the last export". Every format decision (encoding,
quoting, header, dates, numbers, answers) comes from the profile; every question from the
definition.

This module is the export's public face; the work is done in ``flsdesk.exchange.exporting``
(``scope``, ``applicability``, ``writer``, ``render``, ``row_cache``, ``plan``, ``write``,
``status``), one job per module.
"""

from __future__ import annotations

from flsdesk.exchange.exporting.model import (
    HELD_NEEDS_CORRECTION,
    HELD_OPTED_OUT,
    HELD_OPTOUT_NOT_CHECKED,
    REQUIRE_OPTOUT_SETTING,
    WARN_OPTOUT_NOT_CHECKED,
    CancelFn,
    DeletedSinceSent,
    ExportCancelled,
    ExportError,
    ExportPlan,
    ExportResult,
    ExportSuperseded,
    NothingToExport,
    ProgressFn,
    ReportRow,
    UnencodableCharacter,
)
from flsdesk.exchange.exporting.plan import prepare
from flsdesk.exchange.exporting.row_cache import CACHE_CONTEXT_KEY, CACHE_VERSION
from flsdesk.exchange.exporting.scope import Scope
from flsdesk.exchange.exporting.status import (
    OVERDUE_DAYS,
    SendingAge,
    days_since_last_export,
    days_since_last_sent,
    default_file_name,
    last_export_folder,
    sending_age,
    was_exported,
)
from flsdesk.exchange.exporting.write import export, one_at_a_time, write
from flsdesk.exchange.exporting.writer import header_cells

__all__ = [
    "CACHE_CONTEXT_KEY",
    "CACHE_VERSION",
    "HELD_NEEDS_CORRECTION",
    "HELD_OPTED_OUT",
    "HELD_OPTOUT_NOT_CHECKED",
    "OVERDUE_DAYS",
    "REQUIRE_OPTOUT_SETTING",
    "WARN_OPTOUT_NOT_CHECKED",
    "CancelFn",
    "DeletedSinceSent",
    "ExportCancelled",
    "ExportError",
    "ExportPlan",
    "ExportResult",
    "ExportSuperseded",
    "NothingToExport",
    "ProgressFn",
    "ReportRow",
    "Scope",
    "SendingAge",
    "UnencodableCharacter",
    "days_since_last_export",
    "days_since_last_sent",
    "default_file_name",
    "export",
    "header_cells",
    "last_export_folder",
    "one_at_a_time",
    "prepare",
    "sending_age",
    "was_exported",
    "write",
]
