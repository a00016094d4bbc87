"""Many creates and updates in ONE transaction (the import's apply step).

``Store.bulk_insert`` creates records in one transaction and ``Store.save`` updates one; an
import must do both at once, all or nothing, so this module writes both kinds in a single
transaction on the store's engine, under the store's one-writer lock. It reuses the store's own
pieces: the derived columns come from ``flsdesk.store.records.derive`` (computed by the caller,
see ``flsdesk.exchange.importer``), the audit rows from ``flsdesk.store.audit``.
Nothing here decides what is valid.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from flsdesk.exchange.sql import Raw
from flsdesk.store import audit
from flsdesk.store.records import dump_json, records_table
from flsdesk.store.roles import Role
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

CHUNK = 2000


class WriteCancelled(Exception):
    """Cancelled before the commit: the transaction was rolled back, nothing changed."""


@dataclass(frozen=True)
class NewRecord:
    answers: Mapping[str, Any]  # normalised (no unanswered forms)
    derived: Mapping[str, Any]  # flsdesk.store.records.derive(...)


@dataclass(frozen=True)
class Change:
    record_id: int
    old_answers: Mapping[str, Any]
    answers: Mapping[str, Any]
    derived: Mapping[str, Any]
    reason: str | None = None


def write_many(
    store: Store,
    creates: Sequence[NewRecord],
    changes: Sequence[Change],
    *,
    check: Callable[[Connection], None] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> list[int]:
    """Create ``creates`` and apply ``changes`` in one transaction; returns the new ids.

    ``check(conn)`` runs first, inside the transaction and under the writer lock (the importer
    uses it to refuse a plan made before someone else changed the store); an exception from it,
    from ``cancel``, or from anything else rolls everything back.
    """
    store.require(Role.ENTRY, "importing records")
    total = len(creates) + len(changes)
    done = 0
    new_ids: list[int] = []
    # The store's one-writer lock: the GUI thread and a worker share the store (as export does).
    with store.write_transaction() as conn:
        if check is not None:
            check(conn)
        now = store.now()
        user = store.user
        t = records_table.c
        raw = Raw(conn)
        if raw.pg:
            # From the table's sequence: other PCs create records through it meanwhile.
            ids = raw.next_ids("records", len(creates))
        else:
            next_id = int(conn.scalar(select(func.max(t.id))) or 0) + 1
            ids = list(range(next_id, next_id + len(creates)))
        for start in range(0, len(creates), CHUNK):
            _cancel_point(cancel)
            chunk = creates[start : start + CHUNK]
            rows: list[dict[str, Any]] = []
            audits: list[dict[str, Any]] = []
            for offset, rec in enumerate(chunk):
                record_id = ids[start + offset]
                rows.append(
                    {
                        "id": record_id,
                        "uuid": str(uuidlib.uuid4()),
                        "answers": dump_json(dict(rec.answers)),
                        "created_at": now,
                        "created_by": user,
                        "updated_at": now,
                        "updated_by": user,
                        **rec.derived,
                    }
                )
                audits.append(
                    audit.entry(now, user, record_id, audit.CREATE, None, None, dict(rec.answers))
                )
                new_ids.append(record_id)
            conn.execute(insert(records_table), rows)
            audit.write(conn, audits)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if changes:
            names = sorted({name for c in changes for name in c.derived})
            statement = (
                update(records_table)
                .where(t.id == bindparam("rid"))
                .values(
                    # The record's version: a form open on it merges instead of overwriting.
                    version=t.version + 1,
                    answers=bindparam("v_answers"),
                    updated_at=bindparam("v_updated_at"),
                    updated_by=bindparam("v_updated_by"),
                    **{name: bindparam(f"v_{name}") for name in names},
                )
            )
            for start in range(0, len(changes), CHUNK):
                _cancel_point(cancel)
                change_chunk = changes[start : start + CHUNK]
                params: list[dict[str, Any]] = []
                audits = []
                for c in change_chunk:
                    entries = audit.changes(
                        c.old_answers, c.answers, now, user, c.record_id, c.reason
                    )
                    if not entries:
                        continue
                    params.append(
                        {
                            "rid": c.record_id,
                            "v_answers": dump_json(dict(c.answers)),
                            "v_updated_at": now,
                            "v_updated_by": user,
                            **{f"v_{name}": c.derived[name] for name in names},
                        }
                    )
                    audits.extend(entries)
                if params:
                    conn.execute(statement, params)
                audit.write(conn, audits)
                done += len(change_chunk)
                if progress is not None:
                    progress(done, total)
        # The last chance to give up: after this the commit is all or nothing on disk.
        _cancel_point(cancel)
    log.info("bulk write: %d created, %d updated", len(creates), len(changes))
    return new_ids


def _cancel_point(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise WriteCancelled("Cancelled: nothing was changed.")
