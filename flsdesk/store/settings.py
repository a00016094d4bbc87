"""Service settings (service name, org code, idle-lock minutes, upload token…).

They live in the encrypted store because some are secrets (the upload token) and the rest say
which hospital this is; nothing here is ever written to a plain file.
"""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.sqlite import insert

from flsdesk.store.models import Setting
from flsdesk.store.records import dump_json

# Declarative models type __table__ as a FromClause; ours are always plain Tables.
settings_table = cast(Table, Setting.__table__)

SERVICE_NAME = "service_name"
ORG_CODE = "org_code"
IDLE_LOCK_MINUTES = "idle_lock_minutes"
UPLOAD_TOKEN = "upload_token"
# KPI 2: the service's estimated annual caseload (NHFD hip fractures x 5, FAQ 7), a whole number.
ESTIMATED_ANNUAL_CASELOAD = "estimated_annual_caseload"


def get(conn: Connection, key: str, default: Any = None) -> Any:
    value = conn.scalar(select(settings_table.c.value).where(settings_table.c.key == key))
    return default if value is None else json.loads(value)


def set_(conn: Connection, key: str, value: Any) -> None:
    """Store any JSON value; ``None`` removes the setting."""
    t = settings_table
    if value is None:
        conn.execute(t.delete().where(t.c.key == key))
        return
    encoded = dump_json(value)
    stmt = insert(t).values(key=key, value=encoded)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.key], set_={"value": encoded}))


def all_keys(conn: Connection) -> list[str]:
    return list(conn.scalars(select(settings_table.c.key).order_by(settings_table.c.key)))
