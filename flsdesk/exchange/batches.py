"""Export batches in the store: what each export wrote, and the outbox states of its file.

A batch's rows say, per record, the hash of the row written (so "since the last export" can
compare rows) or that the record was reported as deleted here. Written is not sent: most services
save the file and upload it in the webtool by hand, so a batch counts as *sent* only once an
upload succeeded or the user marked it "uploaded in the webtool". Until then its rows go again
with the next "since the last export"; a discarded batch ("this file was not sent") never counts.

An export records its batch as ``writing`` (committed) before its file is renamed into place and
as ``exported`` after, so an export killed in between is found again (``recover_interrupted``):
its file, if it is there with the hash recorded, makes it an ordinary exported batch; otherwise
the batch is dropped and its rows go again.
"""

from __future__ import annotations

import hashlib
import logging
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, Table, func, insert, select, update

from flsdesk.answers import date_for_people
from flsdesk.exchange.sql import EXPORT_LOCK, Raw, as_datetime, exchange_try_lock
from flsdesk.store.models import ExportBatch, ExportRow
from flsdesk.store.roles import Role
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

batches_table = cast(Table, ExportBatch.__table__)
rows_table = cast(Table, ExportRow.__table__)

WRITING = "writing"  # recorded before the file's rename; never seen once an export finished
EXPORTED = "exported"
UPLOADING = "uploading"
SENT = "sent"
FAILED = "failed"
DISCARDED = "discarded"
STATES = (WRITING, EXPORTED, UPLOADING, SENT, FAILED, DISCARDED)
NOT_CONFIRMED = (EXPORTED, UPLOADING, FAILED)  # written, perhaps uploaded by hand, not confirmed
MARKED_BY_HAND = "Uploaded in the webtool"  # the receipt's first words when marked by hand

# Batches this process is writing right now: never "recovered" from under their writer.
_IN_FLIGHT: set[str] = set()


@contextmanager
def being_written(batch_id: str) -> Iterator[None]:
    """While the export writing this batch runs, ``recover_interrupted`` leaves it alone (an
    outbox refresh in the window's thread must not take a live export for a dead one)."""
    _IN_FLIGHT.add(batch_id)
    try:
        yield
    finally:
        _IN_FLIGHT.discard(batch_id)


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
        return self.state in NOT_CONFIRMED

    @property
    def can_mark_uploaded(self) -> bool:
        return self.state in NOT_CONFIRMED

    @property
    def can_discard(self) -> bool:
        return self.state in NOT_CONFIRMED

    @property
    def is_sent(self) -> bool:
        return self.state == SENT


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
    state: str = EXPORTED,
) -> int:
    """Record a batch inside the caller's transaction; returns its sequence number."""
    row_list = list(rows)
    inserted = conn.execute(
        insert(batches_table).values(
            batch_id=batch_id,
            created_at=at,
            created_by=user,
            scope=scope,
            profile=profile,
            file_path=str(path),
            file_sha256=sha256,
            record_count=len(row_list),
            state=state,
            state_at=at,
            attempts=0,
        )
    ).inserted_primary_key
    assert inserted is not None  # an INSERT always has its new key
    seq = int(inserted[0])
    # Plain executemany: SQLAlchemy's insert of a list of dicts goes one row at a time here
    # (insertmanyvalues), which cost more than the rest of a 50,000-row export.
    payload: list[tuple[int, int, str, str | None]] = [(seq, rid, ROW, h) for rid, h in row_list]
    payload += [(seq, rid, DELETED, None) for rid in deleted]
    payload.sort(key=lambda row: row[1])  # in key order: each B-tree page is visited once
    if payload:
        Raw(conn).copy_rows("export_rows", ("batch_seq", "record_id", "kind", "row_hash"), payload)
    return seq


def state_token(raw: Raw) -> str:
    """What every recorded batch is (sequence and state), as one short text: it changes when
    any export is recorded, settled, sent, failed or discarded. Batches are few (one a month or
    so), so reading them all costs nothing."""
    digest = hashlib.sha256()
    for seq, state in raw.execute("SELECT seq, state FROM export_batches ORDER BY seq"):
        digest.update(f"{seq}:{state};".encode())
    return digest.hexdigest()


def finish_writing(conn: Connection, batch_id: str) -> None:
    """The batch's file is in place: an ordinary exported batch from now on."""
    b = batches_table.c
    conn.execute(
        update(batches_table)
        .where(b.batch_id == batch_id, b.state == WRITING)
        .values(state=EXPORTED)
    )


def last_row_hashes(conn: Connection) -> dict[int, str]:
    """For every record ever *sent*, the hash of the row most recently sent for it."""
    # Plain tuples: this runs over every record.
    rows = (
        Raw(conn)
        .execute(
            "SELECT r.record_id, r.row_hash FROM export_rows r JOIN ("
            " SELECT record_id, max(batch_seq) AS seq FROM export_rows WHERE kind = ?"
            " AND batch_seq IN (SELECT seq FROM export_batches WHERE state = ?)"
            " GROUP BY record_id) last ON r.record_id = last.record_id AND r.batch_seq = last.seq",
            (ROW, SENT),
        )
        .fetchall()
    )
    return dict(rows)


def last_events(conn: Connection) -> dict[int, tuple[str, datetime]]:
    """Per record, the latest *sent* batch's kind for it (row, or reported deleted) and its
    time."""
    rows = (
        Raw(conn)
        .execute(
            "SELECT r.record_id, r.kind, b.created_at FROM export_rows r JOIN ("
            " SELECT record_id, max(batch_seq) AS seq FROM export_rows"
            " WHERE batch_seq IN (SELECT seq FROM export_batches WHERE state = ?)"
            " GROUP BY record_id) last"
            " ON r.record_id = last.record_id AND r.batch_seq = last.seq"
            " JOIN export_batches b ON b.seq = r.batch_seq",
            (SENT,),
        )
        .fetchall()
    )
    return {rid: (kind, as_datetime(at)) for rid, kind, at in rows}


def was_sent(conn: Connection, record_id: int) -> bool:
    """Whether this record's row went in a batch that was *sent* (uploaded, or marked uploaded
    in the webtool): a file only saved does not count."""
    r, b = rows_table.c, batches_table.c
    query = (
        select(r.record_id)
        .join(batches_table, b.seq == r.batch_seq)
        .where(r.record_id == record_id, r.kind == ROW, b.state == SENT)
        .limit(1)
    )
    return conn.execute(query).first() is not None


@dataclass(frozen=True)
class Unconfirmed:
    """A written batch not (yet) known to be sent, with how many of a plan's rows it holds."""

    batch: Batch
    records: int


def unconfirmed_rows(conn: Connection) -> list[tuple[Batch, set[int]]]:
    """The exported-but-unconfirmed batches, oldest first, with the records they hold rows of."""
    b = batches_table.c
    pending = conn.execute(
        select(batches_table).where(b.state.in_(NOT_CONFIRMED)).order_by(b.seq)
    ).all()
    raw = Raw(conn)
    out: list[tuple[Batch, set[int]]] = []
    for row in pending:
        batch = _batch(row)
        ids = raw.execute(
            "SELECT record_id FROM export_rows WHERE batch_seq = ? AND kind = ?", (batch.seq, ROW)
        ).fetchall()
        out.append((batch, {rid for (rid,) in ids}))
    return out


def unconfirmed_holding(
    pending: list[tuple[Batch, set[int]]], record_ids: Iterable[int]
) -> list[Unconfirmed]:
    """Of ``unconfirmed_rows``, the batches holding rows of these records, oldest first: rows
    sent again, which the report names ("12 records are in the file of 03/11 …")."""
    wanted = set(record_ids)
    out: list[Unconfirmed] = []
    for batch, ids in pending:
        count = len(ids & wanted)
        if count:
            out.append(Unconfirmed(batch, count))
    return out


def list_batches(store: Store) -> list[Batch]:
    """Every batch, newest first (the outbox); an export interrupted earlier is settled first."""
    recover_interrupted(store)
    b = batches_table.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(batches_table).where(b.state != WRITING).order_by(b.seq.desc())
        ).all()
    return [_batch(r) for r in rows]


def recover_interrupted(store: Store) -> list[tuple[str, bool]]:
    """Settle the batches of exports killed between recording their batch and finishing: a
    file in place with the recorded hash makes the batch an ordinary exported one (so it is
    never written and sent twice); otherwise the batch is dropped and its rows go again.
    Returns (batch id, kept) per batch settled.

    Only while no export is being written, here or on another PC of the team (the export lock
    is free): a batch still "writing" then belongs to an export that died. Otherwise it is left
    for later (an outbox refresh must not take a live export for a dead one)."""
    if not store.role.can_administer:
        return []  # settling a batch is an administrator's change; their next look does it
    with exchange_try_lock(store.engine, EXPORT_LOCK) as free:
        if not free:
            return []
        return _recover_interrupted(store)


def _recover_interrupted(store: Store) -> list[tuple[str, bool]]:
    b = batches_table.c
    with store.engine.connect() as conn:
        found = [
            _batch(r)
            for r in conn.execute(select(batches_table).where(b.state == WRITING)).all()
            if r._mapping["batch_id"] not in _IN_FLIGHT
        ]
    settled: list[tuple[str, bool]] = []
    for batch in found:
        try:
            kept = batch.file_path.is_file() and file_sha256(batch.file_path) == batch.file_sha256
        except OSError:
            kept = False
        with store.write_transaction(Role.ADMIN) as conn:
            if kept:
                conn.execute(
                    update(batches_table)
                    .where(b.seq == batch.seq, b.state == WRITING)
                    .values(state=EXPORTED)
                )
            else:
                conn.execute(rows_table.delete().where(rows_table.c.batch_seq == batch.seq))
                conn.execute(batches_table.delete().where(b.seq == batch.seq, b.state == WRITING))
        # Counts and the batch id only: the file's path may name a patient.
        log.info(
            "interrupted export batch %s %s",
            batch.batch_id,
            "recognised by its file's hash" if kept else "dropped (its file never arrived)",
        )
        settled.append((batch.batch_id, kept))
    return settled


def get_batch(store: Store, batch_id: str) -> Batch | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(batches_table).where(batches_table.c.batch_id == batch_id)
        ).first()
    return None if row is None else _batch(row)


def find_by_sha256(store: Store, sha256: str) -> Batch | None:
    """The newest batch whose file had exactly these bytes."""
    recover_interrupted(store)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(batches_table)
            .where(batches_table.c.file_sha256 == sha256, batches_table.c.state != WRITING)
            .order_by(batches_table.c.seq.desc())
            .limit(1)
        ).first()
    return None if row is None else _batch(row)


def record_external(store: Store, path: Path, sha256: str) -> Batch:
    """A file to upload that no export recorded gets a batch (and so a fresh id) of its own."""
    with store.write_transaction(Role.ADMIN) as conn:
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
    where = [batches_table.c.batch_id == batch_id]
    if state != SENT:
        # Sent is final: an upload that fails after the user marked the batch uploaded in the
        # webtool (or a second window's retry) must not make it unsent again.
        where.append(batches_table.c.state != SENT)
    with store.write_transaction(Role.ADMIN) as conn:
        conn.execute(update(batches_table).where(*where).values(values))
    log.info("batch %s is now %s", batch_id, state)


class BatchStateError(ValueError):
    """A batch cannot move to the state asked for; ``str()`` is a sentence for the user."""


def _settable(store: Store, batch_id: str) -> Batch:
    batch = get_batch(store, batch_id)
    if batch is None or batch.state == WRITING:
        raise BatchStateError(f"There is no export batch {batch_id} in the outbox.")
    if batch.state == SENT:
        raise BatchStateError(
            f"Batch {batch.seq} is already sent ({batch.receipt or 'no receipt'}): nothing changed."
        )
    if batch.state == DISCARDED:
        raise BatchStateError(
            f"Batch {batch.seq} was discarded (its file was not sent); its records go with the "
            "next export instead. Nothing changed."
        )
    return batch


def mark_uploaded(store: Store, batch_id: str, on: date) -> Batch:
    """The user uploaded the batch's file in the webtool by hand on ``on`` (a local date): the
    batch is sent from then on, and its rows count as sent."""
    store.require(Role.ADMIN, "marking an export as uploaded")
    batch = _settable(store, batch_id)
    today = store.today()
    made = batch.created_at.replace(tzinfo=UTC).astimezone().date()
    if on > today:
        raise BatchStateError(
            f"{date_for_people(on)} is in the future: give the day it was uploaded."
        )
    if on < made:
        raise BatchStateError(
            f"{date_for_people(on)} is before the file was saved ({date_for_people(made)}): give "
            "the day it "
            "was uploaded."
        )
    # Midday local time: the day stays the same whatever the time zone's offset.
    at = datetime.combine(on, time(12, 0)).astimezone().astimezone(UTC).replace(tzinfo=None)
    receipt = f"{MARKED_BY_HAND} on {date_for_people(on)} (marked by {store.user})"
    with store.write_transaction(Role.ADMIN) as conn:
        conn.execute(
            update(batches_table)
            .where(batches_table.c.batch_id == batch_id)
            .values(state=SENT, state_at=at, receipt=receipt, failure=None)
        )
    log.info("batch %s marked as uploaded in the webtool", batch_id)
    found = get_batch(store, batch_id)
    assert found is not None
    return found


def discard(store: Store, batch_id: str) -> Batch:
    """The batch's file was not sent (and will not be): its rows go again with the next
    export. The file itself is left alone; the outbox keeps the line, marked discarded."""
    store.require(Role.ADMIN, "discarding an export")
    _settable(store, batch_id)
    set_state(store, batch_id, DISCARDED)
    found = get_batch(store, batch_id)
    assert found is not None
    return found


def last_sent_day(store: Store) -> date | None:
    """The local date of the newest *sent* batch (uploaded, or marked uploaded on that day)."""
    with store.engine.connect() as conn:
        at = conn.scalar(
            select(func.max(batches_table.c.state_at)).where(batches_table.c.state == SENT)
        )
    if at is None:
        return None
    moment: datetime = at
    return moment.replace(tzinfo=UTC).astimezone().date()


def last_export_day(store: Store) -> date | None:
    """The local date of the newest export saved (files made elsewhere and uploaded, and files
    discarded as not sent, do not count)."""
    with store.engine.connect() as conn:
        at = conn.scalar(
            select(func.max(batches_table.c.created_at)).where(
                batches_table.c.scope != EXTERNAL_SCOPE,
                batches_table.c.state.not_in((WRITING, DISCARDED)),
            )
        )
    if at is None:
        return None
    moment: datetime = at
    return moment.replace(tzinfo=UTC).astimezone().date()


def last_sent_times(conn: Connection) -> dict[int, datetime]:
    """Per record whose row was ever sent, when it was last sent (naive UTC)."""
    r, b = rows_table.c, batches_table.c
    query = (
        select(r.record_id, func.max(b.created_at))
        .join(batches_table, b.seq == r.batch_seq)
        .where(r.kind == ROW, b.state == SENT)
        .group_by(r.record_id)
    )
    return {rid: at for rid, at in conn.execute(query)}
