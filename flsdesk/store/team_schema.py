"""The tables of a team database (PostgreSQL), created whole for ``flsdesk team init``.

A team database has no history before team mode, so it is not built by replaying the SQLite
steps of ``migrations.py`` (frozen SQLite SQL): it is created from the models, which describe the
current schema on both engines, and stamped with ``CURRENT_SCHEMA`` in ``meta``. Later schema
steps carry their PostgreSQL form and upgrade it as they upgrade a local store.

What differs from the local store, and why:

* answers stay TEXT, not JSONB: the export's row cache keys on the SHA-256 of the stored text,
  and JSONB would hand back another spelling of the same document; nothing queries inside it.
* every VARCHAR is unbounded (SQLite never enforced the lengths, so neither may the server).
* the case-insensitive NOCASE columns have no collation here: the patient list asks with ILIKE
  and sorts on lower() (flsdesk/patient_list.py).
* the audit trail's append-only triggers are one PL/pgSQL function.
* the patient list's search has trigram indexes (pg_trgm, installed here) on the name, hospital
  number and NHS number; SQLite answers the same search from its NOCASE columns.

Rights (the three group roles and their grants) are ``flsdesk/store/team.py``'s business; this
module creates tables only, as whoever runs it (the DBA's account), and writes nothing that
depends on who will sign in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy
from sqlalchemy import Connection, text

from flsdesk import __version__
from flsdesk.store import settings as settings_mod
from flsdesk.store.errors import StoreError
from flsdesk.store.migrations import CURRENT_SCHEMA, PG_WRITE_LOCK, record_pg_step
from flsdesk.store.models import Base

# The SQLite triggers of schema step 1, as PostgreSQL writes them. The function runs with the
# rights of whoever deletes (the admin's purge): it only reads records.
_AUDIT_TRIGGERS = (
    """
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.action = 'purge' OR EXISTS (SELECT 1 FROM records WHERE records.id = OLD.record_id)
    THEN
        RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END
$$
""",
    # The function names "records" unqualified: pin it to the schema it was created in, so that
    # a session's own search_path can never point it at another table.
    "ALTER FUNCTION audit_append_only() SET search_path FROM CURRENT",
    """
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only()
""",
    """
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only()
""",
)


def new_store_rows(
    conn: Connection, now: datetime, service_name: str | None, org_code: str | None
) -> None:
    """The settings and facts a new store starts with (local and team alike)."""
    if service_name:
        settings_mod.set_(conn, settings_mod.SERVICE_NAME, service_name)
    if org_code:
        settings_mod.set_(conn, settings_mod.ORG_CODE, org_code)
    # FAQ 5: the FLS-DB has no opt-out exemption, so a new store checks before export;
    # stores made before this keep their setting (absent = not required).
    settings_mod.set_(conn, "require_optout_check", True)
    meta = Base.metadata.tables["meta"]
    conn.execute(
        meta.insert(),
        [
            {"key": "store_uuid", "value": _new_uuid()},
            {"key": "created_at", "value": now.isoformat()},
            {"key": "created_by_version", "value": __version__},
        ],
    )


def _new_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_schema(
    engine: sqlalchemy.Engine,
    *,
    service_name: str | None = None,
    org_code: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> None:
    """Create every table of the store in an empty PostgreSQL database, all or nothing.

    Refuses (StoreError, nothing changed) a database that already has tables of any kind:
    ``team init`` must never take over someone else's database or run twice over one store.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("create_schema is for a team database (PostgreSQL)")
    stamp = (now or _utc_now)()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})
        existing = conn.scalar(
            text("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()")
        )
        if existing:
            store = conn.scalar(text("SELECT to_regclass('meta') IS NOT NULL"))
            what = "an flsdesk store already" if store else f"{existing} table(s) already"
            raise StoreError(
                f"This database holds {what}; 'team init' needs an empty database. "
                "Nothing was changed."
            )
        # The trigram operator classes of the patient list's search indexes (models.py). A
        # standard part of PostgreSQL (contrib; in Debian's postgresql package) and a trusted
        # extension: the database's owner may install it.
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except sqlalchemy.exc.DBAPIError as exc:
            raise StoreError(
                "The database server lacks the pg_trgm extension (part of PostgreSQL's "
                "contrib modules), or this account may not install it; the database's owner "
                "or the server's administrator runs 'team init'. Nothing was changed."
            ) from exc
        Base.metadata.create_all(conn)
        for statement in _AUDIT_TRIGGERS:
            conn.execute(text(statement))
        record_pg_step(conn, CURRENT_SCHEMA, stamp)
        new_store_rows(conn, stamp, service_name, org_code)


def set_sequences(conn: Connection) -> None:
    """Move every id sequence past the highest id in its table: after rows were copied in with
    their ids kept (``team migrate-from-local``), the next new row must not collide."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True and not (
                column.autoincrement == "auto"
                and len(table.primary_key.columns) == 1
                and not column.foreign_keys
                and isinstance(column.type, sqlalchemy.Integer)
            ):
                continue
            sequence = conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            )
            if sequence is None:
                continue
            conn.execute(
                text(
                    f"SELECT setval(:s, coalesce((SELECT max({column.name}) FROM {table.name}), 0)"
                    " + 1, false)"
                ),
                {"s": sequence},
            )
