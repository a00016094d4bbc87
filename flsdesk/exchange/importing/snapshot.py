"""What the rules need from the store (keys, each patient's earlier fractures), answered from
one read of it, and the fingerprint that tells whether the store changed since."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from flsdesk.exchange.sql import Raw, as_date, one_moment
from flsdesk.store.store import Store


@dataclass
class Snapshot:
    live_by_key: dict[str, list[int]]
    deleted_by_key: dict[str, list[int]]
    patients: dict[str, list[tuple[date, int]]]  # live records by NHS number
    fingerprint: tuple[int, int]


def store_fingerprint(conn: Connection) -> tuple[int, int]:
    # Every change to a record (create, edit, delete, restore, purge) writes an audit entry.
    audit_id = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM audit").scalar()
    records = conn.exec_driver_sql("SELECT COUNT(*) FROM records").scalar()
    return int(audit_id or 0), int(records or 0)


def take_snapshot(store: Store) -> Snapshot:
    live: dict[str, list[int]] = defaultdict(list)
    deleted: dict[str, list[int]] = defaultdict(list)
    patients: dict[str, list[tuple[date, int]]] = defaultdict(list)
    with one_moment(store.engine) as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, match_key, nhs_number, diagnosed, deleted_at FROM records ORDER BY id"
        ).all()
        fingerprint = store_fingerprint(conn)
    for rid, key, nhs, diagnosed, deleted_at in rows:
        if deleted_at is not None:
            if key is not None:
                deleted[key].append(rid)
            continue
        if key is not None:
            live[key].append(rid)
        day = as_date(diagnosed)
        if nhs is not None and day is not None:
            patients[nhs].append((day, rid))
    return Snapshot(dict(live), dict(deleted), dict(patients), fingerprint)


class SnapshotHooks:
    """``flsdesk.rules.RecordHooks`` over the snapshot (one query for the whole file)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        return [i for i in self.snapshot.live_by_key.get(key, ()) if i != record_id]

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        low = diagnosed - timedelta(days=days)
        found = [
            (d, i)
            for d, i in self.snapshot.patients.get(nhs_number, ())
            if i != record_id and low < d < diagnosed
        ]
        return [i for _, i in sorted(found)]


def load_answers(store: Store, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        raw = Raw(conn)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = raw.execute(
                f"SELECT id, {raw.answers} FROM records WHERE id IN ({marks})", chunk
            ).fetchall()
            for rid, text in rows:
                value = json.loads(text)
                out[rid] = value if isinstance(value, dict) else {}
    return out
