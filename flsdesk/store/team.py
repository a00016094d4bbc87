"""Team administration on the server: the three groups' rights, the people who sign in, moving a
single-PC store into a team database, and copying a team store out as a backup file.

Rights are the server's, not only the program's: whatever a person's copy of flsdesk does, the
server refuses what their group may not do.

- ``<db>_review`` reads everything and writes nothing.
- ``<db>_entry`` also creates and edits records (derived columns included), appends to the audit
  trail and logs call attempts. On ``meta`` it may write only the keys an entry user's open
  writes (the definitions' fingerprint after re-deriving); from ``settings`` it may only remove
  the legacy digest the same step retires (row-level security), so it changes no setting.
- ``<db>_admin`` also changes settings, writes export batches, opt-out lists and the export row
  cache, deletes records for good (the 30-day purge) and manages people.

The audit trail is append-only on the server too. Nobody is granted UPDATE on it; the admin's
DELETE right exists for the 30-day purge only, and the schema's trigger
(``flsdesk/store/team_schema.py``) refuses a DELETE of the entries of a record that still exists
(or of a purge entry). Only the table owner (the DBA who ran ``team init``) could drop the
trigger. (A SECURITY DEFINER purge function was the alternative; the trigger already says exactly
which rows may go, on both engines alike.)

People are login roles, each a member of exactly one group. Adding and removing them needs the
right to create roles, which an admin does not get: ``team init`` installs two SECURITY DEFINER
functions, owned by the DBA and executable by the admin group only, that do exactly that and
nothing more (they touch only this database's groups). A password is turned into a SCRAM
verifier on the client, so the clear password never reaches the server's statement log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Table, func, insert, select, text

from flsdesk.store import models, team_schema
from flsdesk.store.errors import StoreError
from flsdesk.store.roles import Role, group_role

log = logging.getLogger("flsdesk.store")

NEW_PASSWORD_ENV = "FLSDESK_NEW_DB_PASSWORD"
MIN_PASSWORD_LENGTH = 12

# The keys of ``meta`` an entry user's open may write (flsdesk/store/rederive.py).
ENTRY_META_KEYS = ("definitions_fingerprint",)
# The one setting an entry user's open may remove (rederive.LEGACY_DIGEST_SETTING).
ENTRY_REMOVABLE_SETTINGS = ("definitions_digest",)

_ALL = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Per group, per table; "*" is every table not named (a table a later schema step adds is then
# read-only for entry and review, and the admin's, until someone decides otherwise).
TABLE_RIGHTS: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.REVIEW: {"*": ("SELECT",)},
    Role.ENTRY: {
        "*": ("SELECT",),
        "records": ("SELECT", "INSERT", "UPDATE"),
        "audit": ("SELECT", "INSERT"),
        "call_attempts": _ALL,
        "meta": ("SELECT", "INSERT", "UPDATE"),  # rows limited by row security
        "settings": ("SELECT", "DELETE"),  # rows limited by row security
    },
    Role.ADMIN: {
        "*": _ALL,
        # Never UPDATE; DELETE only what the trigger lets go (the purged records' entries).
        "audit": ("SELECT", "INSERT", "DELETE"),
    },
}
SEQUENCE_RIGHTS: dict[Role, tuple[str, ...]] = {
    Role.REVIEW: ("SELECT",),
    Role.ENTRY: ("USAGE", "SELECT"),
    Role.ADMIN: ("USAGE", "SELECT", "UPDATE"),  # UPDATE: setval after moving a store in
}

# Lower case, so that the name typed at sign-in is the role's name (quoted identifiers are
# case-sensitive); no "pg_" (reserved by the server).
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
_GROUP_LIKE = re.compile(r"_(entry|review|admin)$")


class TeamError(StoreError):
    """A team administration step cannot be done; the message says why and what to do."""


class AlreadySetUp(TeamError):
    """``team init`` on a database that already holds a team store."""


class NotEmpty(TeamError):
    """``migrate-from-local`` into a team database that already holds records."""


@dataclass(frozen=True)
class TeamUser:
    name: str
    role: Role
    can_sign_in: bool


# --------------------------------------------------------------------------- names


def check_user_name(name: str) -> str:
    clean = (name or "").strip()
    if not _NAME.match(clean) or clean.startswith("pg_") or _GROUP_LIKE.search(clean):
        raise ValueError(
            f"'{clean}' cannot be a database user name: use lower-case letters, digits, '_', "
            "'.' or '-', starting with a letter (at most 63 characters, not starting with pg_ "
            "and not ending with _entry, _review or _admin, which name groups)."
        )
    return clean


def check_new_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"The database password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )


def _ddl(conn: Connection, statement: str) -> None:
    """One statement of ours, sent as it is (no placeholders: format()'s %I must reach the
    server untouched)."""
    conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _ident(conn: Connection, name: str) -> str:
    """A quoted SQL identifier, quoted by the driver."""
    from psycopg import sql

    raw = conn.connection.driver_connection
    return sql.Identifier(name).as_string(raw)


def _literal(conn: Connection, value: str) -> str:
    from psycopg import sql

    raw = conn.connection.driver_connection
    return sql.Literal(value).as_string(raw)


def scram_verifier(conn: Connection, user: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` made here, by libpq: the server stores only
    it, and only it travels (the clear password never appears in a statement)."""
    raw = conn.connection.driver_connection
    pgconn = raw.pgconn  # type: ignore[union-attr]
    verifier = pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256")
    return bytes(verifier).decode("ascii")


# --------------------------------------------------------------------------- set-up


def schema_present(conn: Connection) -> bool:
    return conn.scalar(text("SELECT to_regclass('public.records') IS NOT NULL")) is True


def groups_present(conn: Connection, database: str) -> bool:
    wanted = [group_role(database, role) for role in Role]
    found = conn.scalar(
        text("SELECT count(*) FROM pg_roles WHERE rolname = ANY(:names)"), {"names": wanted}
    )
    return int(found or 0) == len(wanted)


def _tables(conn: Connection) -> list[str]:
    return list(
        conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        )
    )


def set_up_rights(conn: Connection, database: str) -> None:
    """Create the three groups (if missing) and give them exactly their rights on the tables
    now in the schema; safe to run again (after a schema upgrade adds a table)."""
    groups = {role: group_role(database, role) for role in Role}
    q = {role: _ident(conn, name) for role, name in groups.items()}
    for role, name in groups.items():
        can_login = conn.scalar(
            text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :n"), {"n": name}
        )
        if can_login is None:
            _ddl(conn, f"CREATE ROLE {q[role]} NOLOGIN")
        elif can_login:
            # A person's account made earlier under a group's name would receive the group's
            # rights: never take it as the group.
            raise TeamError(
                f"A database account called {name} already exists and can sign in, so it "
                "cannot be this database's group; ask the database administrator to rename or "
                "drop it, then run 'flsdesk team init' again. Nothing was changed."
            )
    everyone = ", ".join(q.values())
    db = _ident(conn, database)
    # Nobody else may even connect, nor make temporary tables (which could shadow ours).
    _ddl(conn, f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
    _ddl(conn, f"GRANT CONNECT ON DATABASE {db} TO {everyone}")
    _ddl(conn, "REVOKE ALL ON SCHEMA public FROM PUBLIC")
    _ddl(conn, f"GRANT USAGE ON SCHEMA public TO {everyone}")
    _ddl(conn, "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC")
    _ddl(conn, "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC")
    _ddl(conn, f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {everyone}")
    _ddl(conn, f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {everyone}")
    for table in _tables(conn):
        t = _ident(conn, table)
        for role in Role:
            rights = TABLE_RIGHTS[role].get(table, TABLE_RIGHTS[role]["*"])
            _ddl(conn, f"GRANT {', '.join(rights)} ON {t} TO {q[role]}")
    for role in Role:
        listed = ", ".join(SEQUENCE_RIGHTS[role])
        _ddl(conn, f"GRANT {listed} ON ALL SEQUENCES IN SCHEMA public TO {q[role]}")
    _row_security(conn, q)
    _people_functions(conn, groups)


def _row_security(conn: Connection, q: dict[Role, str]) -> None:
    """What entry may write in ``meta`` and remove from ``settings``, row by row."""
    everyone = ", ".join(q.values())
    meta_keys = ", ".join(_literal(conn, k) for k in ENTRY_META_KEYS)
    removable = ", ".join(_literal(conn, k) for k in ENTRY_REMOVABLE_SETTINGS)
    policies = {
        "meta": [
            f"CREATE POLICY flsdesk_read ON meta FOR SELECT TO {everyone} USING (true)",
            f"CREATE POLICY flsdesk_admin ON meta FOR ALL TO {q[Role.ADMIN]} "
            "USING (true) WITH CHECK (true)",
            f"CREATE POLICY flsdesk_entry_add ON meta FOR INSERT TO {q[Role.ENTRY]} "
            f"WITH CHECK (key IN ({meta_keys}))",
            f"CREATE POLICY flsdesk_entry_change ON meta FOR UPDATE TO {q[Role.ENTRY]} "
            f"USING (key IN ({meta_keys})) WITH CHECK (key IN ({meta_keys}))",
        ],
        "settings": [
            f"CREATE POLICY flsdesk_read ON settings FOR SELECT TO {everyone} USING (true)",
            f"CREATE POLICY flsdesk_admin ON settings FOR ALL TO {q[Role.ADMIN]} "
            "USING (true) WITH CHECK (true)",
            f"CREATE POLICY flsdesk_entry_retire ON settings FOR DELETE TO {q[Role.ENTRY]} "
            f"USING (key IN ({removable}))",
        ],
    }
    for table, statements in policies.items():
        existing = conn.scalars(
            text("SELECT policyname FROM pg_policies WHERE tablename = :t"), {"t": table}
        )
        for name in list(existing):
            _ddl(conn, f"DROP POLICY {_ident(conn, name)} ON {table}")
        _ddl(conn, f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for statement in statements:
            _ddl(conn, statement)


_ADD_USER = """
CREATE OR REPLACE FUNCTION flsdesk_add_user(who text, kind text, verifier text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    groups constant text[] := ARRAY[{entry}, {review}, {admin}];
    grp text;
BEGIN
    grp := CASE kind WHEN 'entry' THEN groups[1] WHEN 'review' THEN groups[2]
                     WHEN 'admin' THEN groups[3] END;
    IF grp IS NULL THEN
        RAISE EXCEPTION 'the role must be entry, review or admin'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Never a group's name, of this database or of one made later on the same server.
    IF who !~ '^[a-z][a-z0-9_.-]{{0,62}}$' OR who LIKE 'pg\\_%' OR who = ANY(groups)
       OR who ~ '_(entry|review|admin)$' THEN
        RAISE EXCEPTION 'not a valid user name' USING ERRCODE = 'invalid_name';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = who) THEN
        RAISE EXCEPTION 'a database user called % already exists', who
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF verifier IS NULL THEN
        EXECUTE format('CREATE ROLE %I LOGIN', who);
    ELSE
        IF verifier NOT LIKE 'SCRAM-SHA-256$%' THEN
            RAISE EXCEPTION 'the password must arrive as a SCRAM verifier'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', who, verifier);
    END IF;
    EXECUTE format('GRANT %I TO %I', grp, who);
END
$fn$
"""

_REMOVE_USER = """
CREATE OR REPLACE FUNCTION flsdesk_remove_user(who text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    groups constant text[] := ARRAY[{entry}, {review}, {admin}];
    admins integer;
    grp text;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = who AND g.rolname = ANY(groups)
    ) THEN
        RAISE EXCEPTION 'there is no flsdesk user called % in this database', who
            USING ERRCODE = 'undefined_object';
    END IF;
    IF who = session_user THEN
        RAISE EXCEPTION 'you cannot remove yourself; ask another admin'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH grp IN ARRAY groups LOOP
        IF pg_has_role(who, grp, 'MEMBER') THEN
            EXECUTE format('REVOKE %I FROM %I', grp, who);
        END IF;
    END LOOP;
    SELECT count(*) INTO admins FROM pg_auth_members m
        JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE g.rolname = groups[3] AND u.rolcanlogin;
    IF admins = 0 THEN
        RAISE EXCEPTION 'that is the last admin; add another admin first'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('ALTER ROLE %I NOLOGIN', who);
    BEGIN
        EXECUTE format('DROP ROLE %I', who);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        -- Owns something elsewhere on the server: it stays, unable to sign in or read.
        NULL;
    END;
    BEGIN
        -- A session already open ends now, rather than at its next statement.
        PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE usename = who AND datname = current_database();
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
END
$fn$
"""


def _people_functions(conn: Connection, groups: dict[Role, str]) -> None:
    names = {role.value: _literal(conn, name) for role, name in groups.items()}
    _ddl(conn, _ADD_USER.format(**names))
    _ddl(conn, _REMOVE_USER.format(**names))
    admin = _ident(conn, groups[Role.ADMIN])
    for signature in ("flsdesk_add_user(text, text, text)", "flsdesk_remove_user(text)"):
        _ddl(conn, f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        _ddl(conn, f"GRANT EXECUTE ON FUNCTION {signature} TO {admin}")


def init_team(
    engine: sqlalchemy.Engine,
    admin_name: str,
    admin_password: str | None,
    *,
    create_schema: Callable[[sqlalchemy.Engine], Any],
) -> None:
    """``team init``: the schema (``create_schema``), the groups and their rights, and the first
    admin. Run by the DBA's account (it must be able to create roles). Refuses a database that
    is already a team store; after a failure half-way it can simply be run again."""
    name = check_user_name(admin_name)
    if admin_password is not None:
        check_new_password(admin_password)
    database = str(engine.url.database)
    with engine.connect() as conn:
        if schema_present(conn) and groups_present(conn, database) and list_users(conn, database):
            raise AlreadySetUp(
                f"The database {database} is already a team store (it has its tables, groups "
                "and users). Add people with 'flsdesk team add-user'."
            )
        fresh = not schema_present(conn)
    if fresh:
        create_schema(engine)
    with engine.begin() as conn:
        set_up_rights(conn, database)
        _add(conn, name, Role.ADMIN, admin_password)
    log.info("team database set up, first admin added")


# --------------------------------------------------------------------------- people


def _add(conn: Connection, name: str, role: Role, password: str | None) -> None:
    verifier = None if password is None else scram_verifier(conn, name, password)
    conn.execute(
        text("SELECT flsdesk_add_user(:who, :kind, :verifier)"),
        {"who": name, "kind": role.value, "verifier": verifier},
    )


def add_user(engine: sqlalchemy.Engine, name: str, role: Role, password: str | None) -> None:
    """A new person: a login role in ``role``'s group. ``password`` None: the server signs them
    in another way (GSSAPI/Kerberos, as its pg_hba.conf says)."""
    clean = check_user_name(name)
    if password is not None:
        check_new_password(password)
    with engine.begin() as conn:
        _add(conn, clean, role, password)
    log.info("team user added (%s)", role.value)


def remove_user(engine: sqlalchemy.Engine, name: str) -> None:
    """They can no longer sign in, and a session of theirs still open is ended."""
    clean = check_user_name(name)
    with engine.begin() as conn:
        conn.execute(text("SELECT flsdesk_remove_user(:who)"), {"who": clean})
    log.info("team user removed")


def change_own_password(engine: sqlalchemy.Engine, new_password: str) -> str:
    """The signed-in person's new password (any role may change their own); returns who."""
    check_new_password(new_password)
    with engine.begin() as conn:
        who = str(conn.scalar(text("SELECT session_user")))
        verifier = scram_verifier(conn, who, new_password)
        _ddl(conn, f"ALTER ROLE {_ident(conn, who)} PASSWORD {_literal(conn, verifier)}")
    log.info("team user changed their password")
    return who


def list_users(conn: Connection, database: str) -> list[TeamUser]:
    by_group = {group_role(database, role): role for role in Role}
    rows = conn.execute(
        text(
            "SELECT u.rolname, g.rolname, u.rolcanlogin FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            "WHERE g.rolname = ANY(:groups) ORDER BY u.rolname"
        ),
        {"groups": list(by_group)},
    ).all()
    return [TeamUser(str(r[0]), by_group[str(r[1])], bool(r[2])) for r in rows]


def users(engine: sqlalchemy.Engine) -> list[TeamUser]:
    with engine.connect() as conn:
        return list_users(conn, str(engine.url.database))


# --------------------------------------------------------------------------- copying stores

# Facts about one database, never carried to another: its own schema steps and checks.
_OWN_META = re.compile(r"^(schema_.*|last_full_check)$")
_CHUNK = 2000


def tables_in_order() -> list[Table]:
    """Every table of the store, parents before children (foreign keys)."""
    return list(models.Base.metadata.sorted_tables)


def copy_store(source: Connection, target: Connection) -> dict[str, int]:
    """Copy every row of every table from ``source`` into the empty ``target`` (same schema,
    either engine), ids kept; returns the rows copied per table. Meta keys that describe the
    database itself (its schema steps, its last full check) stay behind."""
    counts: dict[str, int] = {}
    for table in tables_in_order():
        query = select(table).order_by(*table.primary_key.columns)
        if table.name == "meta":
            rows = [
                dict(r._mapping)
                for r in source.execute(query)
                if not _OWN_META.match(str(r._mapping["key"]))
            ]
            keys = [r["key"] for r in rows]
            if keys:
                target.execute(table.delete().where(table.c.key.in_(keys)))
            _insert(target, table, rows)
            counts[table.name] = len(rows)
            continue
        if table.name == "settings":
            rows = [dict(r._mapping) for r in source.execute(query)]
            # A new team database may hold defaults already (require the opt-out check…): the
            # service's own values win.
            target.execute(table.delete())
            _insert(target, table, rows)
            counts[table.name] = len(rows)
            continue
        total = 0
        result = source.execution_options(yield_per=_CHUNK).execute(query)
        for chunk in result.mappings().partitions(_CHUNK):
            _insert(target, table, [dict(r) for r in chunk])
            total += len(chunk)
        counts[table.name] = total
    return counts


def _insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), list(rows))


def held_rows(conn: Connection) -> dict[str, int]:
    """What a team database holds that moving a store in would mix with (records, audit,
    batches, opt-out lists, call attempts); empty when it holds none."""
    found = {}
    for name in ("records", "audit", "export_batches", "optout_lists", "call_attempts"):
        table = models.Base.metadata.tables[name]
        count = int(conn.scalar(select(func.count()).select_from(table)) or 0)
        if count:
            found[name] = count
    return found


def _describe(held: dict[str, int]) -> str:
    words = {
        "records": "record(s)",
        "audit": "audit entries",
        "export_batches": "export batch(es)",
        "optout_lists": "opt-out list(s)",
        "call_attempts": "call attempt(s)",
    }
    return ", ".join(f"{n} {words[k]}" for k, n in held.items())


@dataclass(frozen=True)
class Moved:
    counts: dict[str, int]


def migrate_from_local(
    local: sqlalchemy.Engine, target: Connection, expected_schema: int, database: str
) -> Moved:
    """Copy the single-PC store behind ``local`` into the empty team database, inside the
    caller's transaction ``target`` (the team store's write transaction: all or nothing, and
    serialised with every other writer); the local store is only read."""
    with local.connect() as source:
        schema = _team_schema(target)
        if schema is not None and schema != expected_schema:
            raise TeamError(
                f"The team database is at store schema {schema} and this flsdesk writes "
                f"schema {expected_schema}: use the same version of flsdesk on both sides."
            )
        held = held_rows(target)
        if held:
            raise NotEmpty(
                f"The team database {database} already holds {_describe(held)}; "
                "a store is moved only into an empty team database, so nothing was copied. "
                "Make a new database with 'flsdesk team init' for it."
            )
        # The whole copy sees one moment of the local store: SQLite's read transaction.
        source.exec_driver_sql("BEGIN")
        counts = copy_store(source, target)
        # The counters past the ids that came in with the rows.
        team_schema.set_sequences(target)
    log.info("local store moved into the team database (%d records)", counts.get("records", 0))
    return Moved(counts)


def _team_schema(conn: Connection) -> int | None:
    value = conn.scalar(text("SELECT value FROM meta WHERE key = 'schema_version'"))
    return None if value is None else int(value)


def copy_team_into(team: sqlalchemy.Engine) -> Callable[[sqlalchemy.Engine], int | None]:
    """For ``backup.backup_from_copy``: fill a new local database with the team store, read in
    one snapshot (REPEATABLE READ), so the backup is one moment of the store."""

    def fill(local: sqlalchemy.Engine) -> int | None:
        with (
            team.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as source,
            local.begin() as target,
        ):
            counts = copy_store(source, target)
        return counts.get("records")

    return fill


def summary(counts: dict[str, int]) -> str:
    """What was copied, for the person: "12 records, 40 audit, …" (the tables' own names)."""
    shown = ("records", "audit", "export_batches", "optout_lists", "call_attempts", "settings")
    return ", ".join(f"{counts.get(n, 0)} {n}" for n in shown)
