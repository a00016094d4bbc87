"""Writing a prepared export: the file atomically (0600) and its batch, or nothing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from flsdesk.exchange import batches
from flsdesk.exchange.exporting.model import (
    CancelFn,
    ExportCancelled,
    ExportError,
    ExportPlan,
    ExportResult,
    ExportSuperseded,
    NothingToExport,
)
from flsdesk.exchange.exporting.plan import prepare
from flsdesk.exchange.exporting.row_cache import save_cache
from flsdesk.exchange.exporting.scope import Scope
from flsdesk.exchange.profiles import ExportProfile
from flsdesk.exchange.sql import EXPORT_LOCK, Raw, exchange_lock
from flsdesk.files import WriteError, atomic_write
from flsdesk.store.roles import Role
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")


def write(
    store: Store,
    plan: ExportPlan,
    path: Path | None,
    *,
    dry_run: bool = False,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the plan's file atomically (0600) and record the batch; a dry run does neither."""
    if plan.is_empty:
        raise NothingToExport(
            "Nothing to export: no record in this scope is new or changed, or every one is held "
            "back."
        )
    if dry_run:
        digest = hashlib.sha256()
        size = 0
        for chunk in plan.file_bytes():
            digest.update(chunk)
            size += len(chunk)
        return ExportResult(None, None, digest.hexdigest(), len(plan.going), size, 0)
    if path is None:
        raise ExportError("No file was given to write the export to.")
    # Before a byte is written: on a team database only an administrator records exports.
    store.require(Role.ADMIN, "saving an export for the FLS-DB")
    path = Path(path).expanduser().absolute()
    if cancel is not None and cancel():
        raise ExportCancelled("The export was cancelled; nothing was written.")
    batch_id = batches.new_batch_id()
    size = sum(len(c) for c in plan.file_bytes())
    ids = [r.record_id for r in plan.going]
    deleted = [d.record_id for d in plan.deleted_since_sent]
    digest_box: list[str] = []

    def chunks() -> Iterable[bytes]:
        digest = hashlib.sha256()
        for chunk in plan.file_bytes():
            digest.update(chunk)
            yield chunk
        digest_box.append(digest.hexdigest())

    def commit(replace: Callable[[], None]) -> None:
        # Three steps, each safe to be killed after: the batch is committed as "writing"
        # before the rename, so a file renamed into place is never without its batch; it
        # becomes "exported" after. A batch left "writing" is settled by its file's hash
        # (batches.recover_interrupted) at the next export, outbox or start.
        with store.write_transaction(Role.ADMIN) as conn:
            # Under the one-writer lock, so no other export can record its batch between this
            # check and ours: a plan made before another export was saved, sent or discarded
            # would send its changes again or miss some.
            if plan.batches_token is not None and (
                batches.state_token(Raw(conn)) != plan.batches_token
            ):
                raise ExportSuperseded()
            batches.insert_batch(
                conn,
                batch_id=batch_id,
                at=store.now(),
                user=store.user,
                scope=plan.scope.label,
                profile=plan.profile.id,
                path=path,
                sha256=digest_box[0],
                rows=zip(ids, plan.row_hashes, strict=True),
                deleted=deleted,
                state=batches.WRITING,
            )
            save_cache(conn, plan)
        replace()
        with store.write_transaction(Role.ADMIN) as conn:
            batches.finish_writing(conn, batch_id)

    try:
        # One export written at a time across the team: from the check of the outbox to the
        # batch marked exported, no other PC records a batch or takes this one for a dead one.
        with exchange_lock(store.engine, EXPORT_LOCK), batches.being_written(batch_id):
            sha = atomic_write(path, chunks(), commit=commit)
    except WriteError as exc:
        raise ExportError(str(exc)) from None
    except PermissionError:
        raise ExportError(f"Cannot write {path}: permission denied.") from None
    finally:
        # A failed rename (or a failure after it) leaves a "writing" batch: settle it now, by
        # whether its file arrived; if even that fails, the next export or start settles it.
        try:
            batches.recover_interrupted(store)
        except Exception as exc:  # never hide the write's own error behind this one
            log.warning("settling export batch %s deferred: %s", batch_id, type(exc).__name__)
    log.info(
        "export batch %s written: %d records, %d deletions reported, %d bytes",
        batch_id,
        len(ids),
        len(deleted),
        size,
    )
    return ExportResult(batch_id, path, sha, len(ids), size, len(deleted))


def one_at_a_time(store: Store) -> AbstractContextManager[None]:
    """Hold around a prepare and its write so that no other PC's export comes in between (it
    waits for this one): what a report shows is then what is written."""
    return exchange_lock(store.engine, EXPORT_LOCK)


# How often the one-shot export prepares again when another export got in first.
SUPERSEDED_RETRIES = 3


def export(
    store: Store,
    scope: Scope,
    path: Path | None,
    profile: ExportProfile | None = None,
    *,
    dry_run: bool = False,
) -> tuple[ExportPlan, ExportResult | None]:
    """Prepare and write in one go (the CLI). No file and no batch when nothing is to go.

    Exports of the team run one at a time (``exchange_lock``): a second PC's export waits, then
    prepares against the first one's batch. Should the outbox still change in between (a batch
    marked uploaded meanwhile), the export is prepared again.
    """
    with one_at_a_time(store):
        for attempt in range(SUPERSEDED_RETRIES + 1):
            plan = prepare(store, scope, profile)
            if plan.is_empty:
                return plan, None
            try:
                return plan, write(store, plan, path, dry_run=dry_run)
            except ExportSuperseded:
                if attempt == SUPERSEDED_RETRIES:
                    raise
                log.info("export superseded by another one: preparing it again")
    raise AssertionError("unreachable")  # the loop returns or raises
