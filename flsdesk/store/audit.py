"""The audit trail: who changed which question of which record, when, from what, to what, why.

Append-only. Triggers in the schema refuse any UPDATE, and any DELETE while the record still
exists; only a purge, which removes a record after its 30 days in the deleted view, takes the
record's history with it (otherwise the answers would outlive the purge inside the audit) and
leaves a single "purge" entry that holds no patient data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from flsdesk.store.models import AuditEntry
from flsdesk.store.records import dump_json

# Declarative models type __table__ as a FromClause; ours are always plain Tables.
audit_table = cast(Table, AuditEntry.__table__)

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
RESTORE = "restore"
PURGE = "purge"
ACTIONS = (CREATE, UPDATE, DELETE, RESTORE, PURGE)


@dataclass(frozen=True)
class AuditItem:
    id: int
    at: datetime  # UTC
    user: str
    record_id: int | None
    action: str
    question: str | None
    old_value: Any
    new_value: Any
    reason: str | None


def _json_or_none(value: Any) -> str | None:
    return None if value is None else dump_json(value)


def entry(
    at: datetime,
    user: str,
    record_id: int | None,
    action: str,
    question: str | None = None,
    old_value: Any = None,
    new_value: Any = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One row for ``audit``, values encoded as JSON (so a list stays a list)."""
    return {
        "at": at,
        "user": user,
        "record_id": record_id,
        "action": action,
        "question": question,
        "old_value": _json_or_none(old_value),
        "new_value": _json_or_none(new_value),
        "reason": reason,
    }


def changes(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    at: datetime,
    user: str,
    record_id: int,
    reason: str | None,
) -> list[dict[str, Any]]:
    """One update entry per question whose stored answer differs (in key order)."""
    rows = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before != after:
            rows.append(entry(at, user, record_id, UPDATE, key, before, after, reason))
    return rows


def write(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(audit_table), rows)


def trail(conn: Connection, record_id: int) -> list[AuditItem]:
    t = audit_table.c
    result = conn.execute(select(audit_table).where(t.record_id == record_id).order_by(t.id))
    return [_item(row._mapping) for row in result]


def _item(row: Mapping[Any, Any]) -> AuditItem:
    return AuditItem(
        id=row["id"],
        at=row["at"],
        user=row["user"],
        record_id=row["record_id"],
        action=row["action"],
        question=row["question"],
        old_value=None if row["old_value"] is None else json.loads(row["old_value"]),
        new_value=None if row["new_value"] is None else json.loads(row["new_value"]),
        reason=row["reason"],
    )
