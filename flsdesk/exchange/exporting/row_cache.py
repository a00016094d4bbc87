"""The export row cache: a record's rendered row is reused while its stored answers and the
context it was rendered in (definitions, profile, sometimes the day) are unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import date
from typing import Any

from flsdesk import conditions as cond
from flsdesk.dataset import Definition
from flsdesk.exchange.exporting.applicability import atoms
from flsdesk.exchange.exporting.model import ExportPlan
from flsdesk.exchange.profiles import ExportProfile
from flsdesk.exchange.sql import Raw
from flsdesk.store.store import Store

# Bump when the way a row is rendered changes: every cached row is then rendered again.
CACHE_VERSION = "export-row-cache 1"
CACHE_CONTEXT_KEY = "export_row_cache_context"  # in the store's meta table


def canon(value: Any) -> Any:
    """A deterministic, JSON-able picture of a definition or profile (sets sorted), so that a
    cached row is used only with exactly the definitions and profile it was rendered with."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: canon(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, set | frozenset):
        return sorted((canon(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def has_days_since(definition: Definition) -> bool:
    conditions = [q.applies_when for q in definition.questions.values()]
    conditions += [t.applies_when for t in definition.tabs]
    return any(isinstance(a, cond.DaysSince) for c in conditions for a in atoms(c))


def cache_context(store: Store, profile: ExportProfile, today: date) -> str:
    digest = hashlib.sha256(CACHE_VERSION.encode())
    for definition in store.definitions:
        digest.update(json.dumps(canon(definition), sort_keys=True).encode())
        if has_days_since(definition):
            # Which questions apply would then change with the calendar alone.
            digest.update(today.isoformat().encode())
    digest.update(json.dumps(canon(profile), sort_keys=True).encode())
    return digest.hexdigest()


# Read apart from the records and joined in Python: a join costs a B-tree look-up per record,
# which on the encrypted store is slower than reading the cache table once.
CACHE_SQL = (
    "SELECT record_id, answers_sha, row_bytes, row_hash, optout_state, sort_key "
    "FROM export_row_cache"
)


CACHE_COLUMNS = ("record_id", "answers_sha", "row_bytes", "row_hash", "optout_state", "sort_key")


def save_cache(conn: Any, plan: ExportPlan) -> None:
    raw = Raw(conn)
    if plan.cache_reset:
        raw.execute("DELETE FROM export_row_cache")
        raw.upsert_meta(CACHE_CONTEXT_KEY, plan.cache_context)
    if not plan.cache_updates:
        return
    if raw.pg:
        # Replace = delete the rows re-rendered, then COPY (one round trip for 50,000 rows
        # instead of an upsert each).
        if not plan.cache_reset:
            raw.driver.execute(
                "DELETE FROM export_row_cache WHERE record_id = ANY(%s)",
                ([u[0] for u in plan.cache_updates],),
            )
        # COPY passes text as it is, and PostgreSQL's text cannot hold a NUL (a sort key is
        # built from answers as typed): dropped here, as the store's columns drop it.
        rows = ((*u[:5], u[5].replace("\x00", "")) for u in plan.cache_updates)
        raw.copy_rows("export_row_cache", CACHE_COLUMNS, rows)
    else:
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO export_row_cache (record_id, answers_sha, row_bytes, "
            "row_hash, optout_state, sort_key) VALUES (?, ?, ?, ?, ?, ?)",
            plan.cache_updates,
        )
