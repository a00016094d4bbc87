"""Applying a plan: every valid row in ONE transaction, or nothing at all."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection

from flsdesk.exchange import bulk_write
from flsdesk.exchange.exporting.status import was_exported as exported_check
from flsdesk.exchange.importing.model import (
    NEW,
    REJECTED,
    UNCHANGED,
    UPDATED,
    CancelFn,
    ImportCancelled,
    ImportPlan,
    ImportResult,
    ProgressFn,
    RowsRejected,
    StoreChanged,
    Unreadable,
)
from flsdesk.exchange.importing.snapshot import store_fingerprint
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")


def audit_reason(file_name: str) -> str:
    return f"import of {file_name}"


def apply(
    store: Store,
    plan: ImportPlan,
    *,
    skip_invalid: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    was_exported: Callable[[Store, int], bool] | None = None,
) -> ImportResult:
    """Write the plan in one transaction; nothing at all when it fails or is cancelled."""
    if plan.unreadable:
        raise Unreadable(plan.unreadable)
    counts = plan.counts
    if counts[REJECTED] and not skip_invalid:
        raise RowsRejected(
            f"{counts[REJECTED]} row(s) are rejected, so nothing was imported. Correct them, or "
            "apply the valid rows only."
        )
    if was_exported is None:
        was_exported = exported_check
    reason = audit_reason(plan.file_name)
    creates = [
        bulk_write.NewRecord(r.answers or {}, r.derived or {})
        for r in plan.rows
        if r.outcome == NEW
    ]
    changes = [
        bulk_write.Change(
            int(r.record_id or 0),
            r.old_answers or {},
            r.answers or {},
            r.derived or {},
            # An edit to a record the webtool already has needs a reason, as in the form.
            reason if was_exported(store, int(r.record_id or 0)) else None,
        )
        for r in plan.rows
        if r.outcome == UPDATED
    ]

    def check(conn: Connection) -> None:
        if store_fingerprint(conn) != plan.fingerprint:
            raise StoreChanged(
                "Records were changed since this file was checked; check the file again before "
                "importing it."
            )

    try:
        ids = bulk_write.write_many(
            store, creates, changes, check=check, progress=progress, cancel=cancel
        )
    except bulk_write.WriteCancelled:
        log.info("import cancelled: nothing changed")
        raise ImportCancelled("The import was cancelled; nothing was changed.") from None
    result = ImportResult(
        created=len(ids),
        updated=len(changes),
        unchanged=counts[UNCHANGED],
        skipped=counts[REJECTED],
        new_ids=tuple(ids),
    )
    log.info(
        "import applied: %d created, %d updated, %d unchanged, %d rejected rows skipped",
        result.created,
        result.updated,
        result.unchanged,
        result.skipped,
    )
    return result
