"""Export batches in the store: what each export sent, and the outbox states of its file.

A batch is recorded only once its file is complete on disk; its rows say, per record, the hash
of the row sent (so "since the last export" can compare rows) or that the record was reported as
deleted here. The outbox is the list of batches with their upload state.
"""

from __future__ import annotations

import hashlib
import logging
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from flsdesk.store.models import ExportBatch, ExportRow
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.sync")

batches_table = ExportBatch.__table__
rows_table = ExportRow.__table__

EXPORTED = "exported"
UPLOADING = "uploading"
SENT = "sent"
FAILED = "failed"
STATES = (EXPORTED, UPLOADING, SENT, FAILED)

ROW = "row"
DELETED = "deleted"
EXTERNAL_SCOPE = "external"


@dataclass(frozen=True)
class Batch:
    seq: int
    batch_id: str
    created_at: datetime  # naive UTC
    created_by: str
    scope: str
    profile: str
    file_path: Path
    file_sha256: str
    record_count: int
    state: str
    state_at: datetime
    attempts: int
    receipt: str | None
    failure: str | None

    @property
    def file_exists(self) -> bool:
        return self.file_path.is_file()

    @property
    def can_upload(self) -> bool:
        """Upload (exported) or retry (failed, or an upload interrupted mid-way)."""
        return self.state in (EXPORTED, FAILED, UPLOADING)


def new_batch_id() -> str:
    return str(uuidlib.uuid4())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _batch(row: object) -> Batch:
    r = row._mapping  # type: ignore[attr-defined]
    return Batch(
        seq=r["seq"],
        batch_id=r["batch_id"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        scope=r["scope"],
        profile=r["profile"],
        file_path=Path(r["file_path"]),
        file_sha256=r["file_sha256"],
        record_count=r["record_count"],
        state=r["state"],
        state_at=r["state_at"],
        attempts=r["attempts"],
        receipt=r["receipt"],
        failure=r["failure"],
    )


def insert_batch(
    conn: Connection,
    *,
    batch_id: str,
    at: datetime,
    user: str,
    scope: str,
    profile: str,
    path: Path,
    sha256: str,
    rows: Iterable[tuple[int, str]],
    deleted: Iterable[int] = (),
) -> int:
    """Record a batch inside the caller's transaction; returns its sequence number."""
    row_list = list(rows)
    seq = int(
        conn.execute(
            insert(batches_table).values(
                batch_id=batch_id,
                created_at=at,
                created_by=user,
                scope=scope,
                profile=profile,
                file_path=str(path),
                file_sha256=sha256,
                record_count=len(row_list),
                state=EXPORTED,
                state_at=at,
                attempts=0,
            )
        ).inserted_primary_key[0]
    )
    # Plain executemany: SQLAlchemy's insert of a list of dicts goes one row at a time here
    # (insertmanyvalues), which cost more than the rest of a 50,000-row export.
    payload = [(seq, rid, ROW, h) for rid, h in row_list]
    payload += [(seq, rid, DELETED, None) for rid in deleted]
    payload.sort(key=lambda row: row[1])  # in key order: each B-tree page is visited once
    if payload:
        conn.exec_driver_sql(
            "INSERT INTO export_rows (batch_seq, record_id, kind, row_hash) VALUES (?, ?, ?, ?)",
            payload,
        )
    return seq


def last_row_hashes(conn: Connection) -> dict[int, str]:
    """For every record ever written, the hash of the row most recently written for it."""
    raw: Any = conn.connection.driver_connection  # plain tuples: this runs over every record
    rows = raw.execute(
        "SELECT r.record_id, r.row_hash FROM export_rows r JOIN ("
        " SELECT record_id, max(batch_seq) AS seq FROM export_rows WHERE kind = ?"
        " GROUP BY record_id) last ON r.record_id = last.record_id AND r.batch_seq = last.seq",
        (ROW,),
    ).fetchall()
    return dict(rows)


def last_events(conn: Connection) -> dict[int, tuple[str, datetime]]:
    """Per record, the latest batch's kind for it (row sent, or reported deleted) and its time."""
    raw: Any = conn.connection.driver_connection
    rows = raw.execute(
        "SELECT r.record_id, r.kind, b.created_at FROM export_rows r JOIN ("
        " SELECT record_id, max(batch_seq) AS seq FROM export_rows GROUP BY record_id) last"
        " ON r.record_id = last.record_id AND r.batch_seq = last.seq"
        " JOIN export_batches b ON b.seq = r.batch_seq"
    ).fetchall()
    return {rid: (kind, datetime.fromisoformat(at)) for rid, kind, at in rows}


def was_sent(conn: Connection, record_id: int) -> bool:
    r = rows_table.c
    query = select(r.record_id).where(r.record_id == record_id, r.kind == ROW).limit(1)
    return conn.execute(query).first() is not None


def list_batches(store: Store) -> list[Batch]:
    """Every batch, newest first (the outbox)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(batches_table).order_by(batches_table.c.seq.desc())).all()
    return [_batch(r) for r in rows]


def get_batch(store: Store, batch_id: str) -> Batch | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(batches_table).where(batches_table.c.batch_id == batch_id)
        ).first()
    return None if row is None else _batch(row)


def find_by_sha256(store: Store, sha256: str) -> Batch | None:
    """The newest batch whose file had exactly these bytes."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(batches_table)
            .where(batches_table.c.file_sha256 == sha256)
            .order_by(batches_table.c.seq.desc())
            .limit(1)
        ).first()
    return None if row is None else _batch(row)


def record_external(store: Store, path: Path, sha256: str) -> Batch:
    """A file to upload that no export recorded gets a batch (and so a fresh id) of its own."""
    with store.write_transaction() as conn:
        insert_batch(
            conn,
            batch_id=new_batch_id(),
            at=store.now(),
            user=store.user,
            scope=EXTERNAL_SCOPE,
            profile="",
            path=path,
            sha256=sha256,
            rows=(),
        )
    found = find_by_sha256(store, sha256)
    assert found is not None
    log.info("batch %s recorded for a file no export made", found.batch_id)
    return found


def set_state(
    store: Store,
    batch_id: str,
    state: str,
    *,
    receipt: str | None = None,
    failure: str | None = None,
    attempts: int | None = None,
) -> None:
    if state not in STATES:
        raise ValueError(f"unknown batch state {state!r}")
    values: dict[str, object] = {"state": state, "state_at": store.now()}
    if state == SENT:
        values.update(receipt=receipt, failure=None)
    elif state == FAILED:
        values["failure"] = failure
    if attempts is not None:
        values["attempts"] = attempts
    with store.write_transaction() as conn:
        conn.execute(
            update(batches_table).where(batches_table.c.batch_id == batch_id).values(values)
        )
    log.info("batch %s is now %s", batch_id, state)


def last_export_day(store: Store) -> date | None:
    """The local date of the newest export (files made elsewhere and uploaded do not count)."""
    with store.engine.connect() as conn:
        at = conn.scalar(
            select(func.max(batches_table.c.created_at)).where(
                batches_table.c.scope != EXTERNAL_SCOPE
            )
        )
    if at is None:
        return None
    from datetime import UTC

    return at.replace(tzinfo=UTC).astimezone().date()


def last_sent_times(conn: Connection) -> dict[int, datetime]:
    """Per record whose row was ever sent, when it was last sent (naive UTC)."""
    r, b = rows_table.c, batches_table.c
    query = (
        select(r.record_id, func.max(b.created_at))
        .join(batches_table, b.seq == r.batch_seq)
        .where(r.kind == ROW)
        .group_by(r.record_id)
    )
    return {rid: at for rid, at in conn.execute(query)}
