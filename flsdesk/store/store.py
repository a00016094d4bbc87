"""The store facade: open the encrypted database, and save, load, delete and restore records.

Every save evaluates the record with the rules, then writes its answers, the columns derived from
the evaluation and its audit entries in one transaction: either all of it is on disk or none.

Two engines behind one API: the encrypted single-PC store (SQLCipher, ``Store.open``/``create``)
and a team database on a PostgreSQL server (``Store.open_team``). On the server, every write
transaction takes one advisory lock first (``migrations.PG_WRITE_LOCK``), so writes from all PCs
are serialised exactly as SQLite's BEGIN IMMEDIATE serialises processes, and the rights of the
signed-in person's role (``store.role``) are checked here before the server would refuse.
A duplicate match key never refuses a save; it is an error on both records, kept true by
re-evaluating the records that share the old or the new key whenever a record's key changes, and
whenever a record is deleted, restored or created.
"""

from __future__ import annotations

import getpass
import logging
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import sqlalchemy
from sqlalchemy import Connection, Table, and_, func, insert, or_, select, text, update
from sqlalchemy.orm import aliased

from flsdesk.dataset import DefinitionSet, load_definitions
from flsdesk.paths import AppPaths, make_private_dir
from flsdesk.rules import Evaluation
from flsdesk.store import audit, integrity, keys, presence
from flsdesk.store import rederive as derivation
from flsdesk.store import settings as settings_mod
from flsdesk.store.backup import SUFFIX as BACKUP_SUFFIX
from flsdesk.store.backup import restore_hint, snapshot
from flsdesk.store.engine import connect, create_engine
from flsdesk.store.errors import NoStore, NotAllowed, StoreDamaged, StoreError, WrongKey
from flsdesk.store.lock import StoreLock
from flsdesk.store.migrations import PG_WRITE_LOCK, migrate, pg_require_tables
from flsdesk.store.models import AuditEntry, CallAttempt, ExportBatch, Meta, Record
from flsdesk.store.pg import Address, create_pg_engine
from flsdesk.store.records import (
    RETENTION_DAYS,
    BatchHooks,
    Conflict,
    DeletedRecord,
    DuplicatePair,
    Evaluator,
    RecordNotFound,
    SaveConflict,
    SaveResult,
    StoredRecord,
    StoreHooks,
    answers_from_json,
    check_delete_reason,
    dump_json,
    normalise_answers,
    records_table,
    reserve_record_ids,
    three_way,
)
from flsdesk.store.rederive import Progress, Rederived
from flsdesk.store.roles import Role, group_role
from flsdesk.store.team_schema import new_store_rows

log = logging.getLogger("flsdesk.store")
meta_table = cast(Table, Meta.__table__)

Clock = Callable[[], datetime]


def user_label(initials: str, os_user: str | None = None) -> str:
    """Who is working, as the audit trail records it: ``"AB (jsmith)"``."""
    try:
        account = os_user or getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers, services)
        account = "unknown"
    return f"{initials.strip().upper()} ({account})"


def _system_clock() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """Timestamps are stored as naive UTC; a naive clock value is taken as local time."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _lock_store(paths: AppPaths) -> StoreLock:
    lock = StoreLock(paths.data_dir)
    lock.acquire()  # StoreInUse when another copy has the store open
    return lock


def _backup_before_migration(
    paths: AppPaths, key: bytes | None, engine: sqlalchemy.Engine, clock: Clock
) -> Callable[[int], Path]:
    def run(from_version: int) -> Path:
        folder = make_private_dir(paths.backups_dir)
        stamp = _utc(clock()).strftime("%Y%m%dT%H%M%SZ")
        name = f"before-schema-upgrade-from-{from_version}-{stamp}"
        if key is not None and paths.key_file.exists():
            # The normal case: a full backup file (database and wrapped keys) that the user can
            # restore with 'flsdesk restore' if the new version disappoints.
            return snapshot(paths.database, key, folder / f"{name}{BACKUP_SUFFIX}", paths.key_file)
        # No key file beside the database (tests, the benchmark): a bare database copy, still
        # through the backup API and encrypted with the same key.
        dest = folder / f"{name}.db"
        target = connect(dest, key, wal=False)
        raw = engine.raw_connection()
        try:
            raw.driver_connection.backup(target)  # type: ignore[union-attr]
        finally:
            raw.close()
            target.close()
        return dest

    return run


def _role_of(conn: Connection) -> tuple[str, Role | None]:
    """The signed-in account and the highest of the database's three roles it is a member of
    (a superuser is a member of every role: the DBA counts as an admin)."""
    database = str(conn.scalar(text("SELECT current_database()")))
    account = str(conn.scalar(text("SELECT session_user")))
    names = {group_role(database, role): role for role in Role}
    # By oid: pg_has_role() with the name of a role that does not exist would be an error.
    held = conn.execute(
        text(
            "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(:names) "
            "AND pg_has_role(session_user, oid, 'MEMBER')"
        ),
        {"names": list(names)},
    ).scalars()
    roles = {names[name] for name in held}
    if conn.scalar(text("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user")):
        roles.add(Role.ADMIN)  # the DBA's own account, whatever groups exist
    for role in (Role.ADMIN, Role.ENTRY, Role.REVIEW):
        if role in roles:
            return account, role
    return account, None


_ROLE_NEEDED = {Role.ENTRY: "the entry or admin role", Role.ADMIN: "the admin role"}


class Store:
    """One open store. On the local engine not for use by two processes at once (the lock sees
    to that); a team database is shared by every PC of the service."""

    def __init__(
        self,
        paths: AppPaths,
        engine: sqlalchemy.Engine,
        user: str,
        definitions: DefinitionSet,
        clock: Clock,
        lock: StoreLock | None = None,
        *,
        role: Role = Role.ADMIN,
        address_display: str | None = None,
    ) -> None:
        self.paths = paths
        self.engine = engine
        self.user = user
        self.definitions = definitions
        self._clock = clock
        self._lock = lock
        # The local store has one person with every right; a team database's role is the
        # signed-in account's (open_team).
        self.role = role
        self.is_team = engine.dialect.name == "postgresql"
        # Where the store is, for people and logs: the data folder, or the server's address
        # without its password.
        self.address_display = address_display or str(paths.data_dir)
        # One writer at a time inside this process (GUI thread and workers share the store).
        self._write = threading.RLock()
        self._evaluator = Evaluator(definitions, self.today)
        # What the re-derivation at open did (None: the definitions had not changed).
        self.rederived: Rederived | None = None

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        paths: AppPaths,
        key: bytes | None,
        user: str,
        site: str,
        org_code: str | None = None,
        *,
        clock: Clock | None = None,
        definitions: DefinitionSet | None = None,
    ) -> Store:
        """Create a new, empty store (the key file is the caller's business)."""
        if paths.database.exists():
            raise FileExistsError(f"A store already exists in {paths.data_dir}.")
        make_private_dir(paths.data_dir)
        store = cls._open(paths, key, user, clock, definitions, creating=True)
        try:
            with store._write, store.engine.begin() as conn:
                derivation.write_fingerprint(conn, derivation.fingerprint(store.definitions))
                new_store_rows(conn, _utc(store._clock()), site, org_code)
        except BaseException:
            store.close()
            raise
        log.info("store created")
        return store

    @classmethod
    def open(
        cls,
        paths: AppPaths,
        key: bytes | None,
        user: str,
        clock: Clock | None = None,
        *,
        definitions: DefinitionSet | None = None,
        progress: Progress | None = None,
        defer_rederive: bool = False,
    ) -> Store:
        """Open an existing store: lock, unlock, migrate, a quick integrity check, then the
        start-up purge and refresh.

        When the definitions in use are not those the records were derived with, every live
        record is derived again (``progress`` follows it) and ``store.rederived`` says what
        changed, for the caller to tell the user once. ``defer_rederive`` leaves that to the
        caller (``rederive_due`` / ``rederive``), e.g. to run it off the GUI thread.

        A key file whose database is missing, empty, cut short or unreadable with the key file's
        own key is a damaged store (StoreDamaged naming the backup to restore), never a new one.
        """
        # A restore cut short by a power failure leaves the old store aside: put it back (or
        # finish the clean-up) before looking for the database, under the store's lock.
        presence.settle(paths)
        if not paths.database.exists() and not paths.key_file.exists():
            raise NoStore(
                f"There is no store in {paths.data_dir} yet; create one with 'flsdesk init'."
            )
        # Test and benchmark stores have no key file beside them; the database is judged alone.
        problem = presence.file_problem(paths, need_key_file=False)
        if problem:
            raise presence.damaged(paths, problem)
        try:
            store = cls._open(paths, key, user, clock, definitions, creating=False)
        except WrongKey:
            if key is not None and paths.key_file.exists() and keys.matches(paths.key_file, key):
                # The key file accepted this key, so the database not opening with it is damage
                # (or another store's database put in its place), not a wrong passphrase.
                raise presence.damaged(
                    paths, "its database file cannot be read with the store's own key"
                ) from None
            raise
        try:
            store.quick_check()
            store.purge_expired()
            if defer_rederive and store.rederive_due():
                pass  # the caller re-derives; refreshing for today first would be wasted
            elif store.rederive(progress) is None:
                store.refresh_stale()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_team(
        cls,
        address: Address,
        password: str | None,
        *,
        paths: AppPaths,
        clock: Clock | None = None,
        definitions: DefinitionSet | None = None,
        progress: Progress | None = None,
        defer_rederive: bool = False,
        ca_file: str | Path | None = None,
    ) -> Store:
        """Open the service's team database (PostgreSQL) as the account in ``address``.

        No file lock and no key: the server keeps the data and the rights. ``paths`` still gives
        this PC's folders (definitions override, logs, backups). The audit trail records the
        database's session user. The start-up housekeeping writes only as far as the role
        allows: the purge needs admin, refresh and re-derivation need entry; review writes
        nothing. Errors: SignInRefused, ServerUnreachable, CertificateRefused, NoStore (no
        tables yet), NewerSchema, NotAllowed (an account in none of the database's roles).
        """
        clock = clock or _system_clock
        engine = create_pg_engine(address, password, ca_file=ca_file)
        try:
            defs = definitions or load_definitions(paths)
            with engine.connect() as conn:
                account, role = _role_of(conn)
                if role is None:
                    pg_require_tables(conn)  # NoStore first, for a database without tables
            if role is None:
                raise NotAllowed(
                    f"The account {account} has none of the three flsdesk roles (entry, review, "
                    f"admin) in the team database at {address.display}: ask the service's "
                    "administrator to add it with 'flsdesk team add-user'."
                )
            migrate(engine, now=lambda: _utc(clock()))
            store = cls(
                paths,
                engine,
                account,
                defs,
                clock,
                None,
                role=role,
                address_display=address.display,
            )
        except BaseException:
            engine.dispose()
            raise
        try:
            store._housekeeping(progress, defer_rederive)
        except BaseException:
            store.close()
            raise
        log.info("team store opened (%s role)", role.value)
        return store

    def _housekeeping(self, progress: Progress | None, defer_rederive: bool) -> None:
        """A team database's start-up writes, as far as the role allows. A server whose grants
        refuse one of them (a narrower policy than flsdesk's own) costs only that step: each is
        its own transaction, rolled back whole, and the store opens for what the role may do."""
        try:
            if self.role.can_administer:
                self.purge_expired()
            if not self.role.can_edit:
                return  # review: reads only; the records stay as the last editor derived them
            if defer_rederive and self.rederive_due():
                return
            if self.rederive(progress) is None:
                self.refresh_stale()
        except NotAllowed as exc:
            log.warning("start-up housekeeping not allowed on this team database: %s", exc)

    @classmethod
    def _open(
        cls,
        paths: AppPaths,
        key: bytes | None,
        user: str,
        clock: Clock | None,
        definitions: DefinitionSet | None,
        creating: bool,
    ) -> Store:
        clock = clock or _system_clock
        lock = _lock_store(paths)
        engine: sqlalchemy.Engine | None = None
        try:
            defs = definitions or load_definitions(paths)
            engine = create_engine(paths.database, key)
            backup = None if creating else _backup_before_migration(paths, key, engine, clock)
            migrate(engine, backup=backup, now=lambda: _utc(clock()))
            return cls(paths, engine, user, defs, clock, lock)
        except BaseException:
            if engine is not None:
                engine.dispose()
            _release(lock)
            raise

    def quick_check(self) -> integrity.CheckResult:
        """The time-boxed check at every open; StoreDamaged when it finds damage."""
        if self.is_team:
            return integrity.server_result()
        with self.engine.connect() as conn:
            result = integrity.quick_check(conn.connection.driver_connection)
        if not result.ok:
            raise StoreDamaged(
                f"The store in {self.paths.data_dir} is damaged: its database fails its "
                f"integrity check ({result.problems[0]}). {restore_hint(self.paths)}"
            )
        return result

    def full_check(self) -> integrity.CheckResult:
        """Every page and the whole structure (slow: the window runs it in a worker thread).
        Records the day it passed, so the window runs it at most daily."""
        if self.is_team:
            return integrity.server_result()
        with self.engine.connect() as conn:
            result = integrity.full_check(conn.connection.driver_connection)
        if result.ok:
            self._set_meta(integrity.FULL_CHECK_META_KEY, _utc(self._clock()).date().isoformat())
        return result

    def full_check_due(self) -> bool:
        if self.is_team:
            return False  # the server checks its own pages (integrity.server_result)
        last = self._get_meta(integrity.FULL_CHECK_META_KEY)
        return last is None or last < _utc(self._clock()).date().isoformat()

    def _get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(Meta.value).where(Meta.key == key)).scalar()
        return None if value is None else str(value)

    def _set_meta(self, key: str, value: str) -> None:
        with self._writing(immediate=False) as conn:
            changed = conn.execute(
                update(meta_table).where(Meta.key == key).values(value=value)
            ).rowcount
            if not changed:
                conn.execute(insert(meta_table), [{"key": key, "value": value}])

    def close(self) -> None:
        self.engine.dispose()
        _release(self._lock)
        self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def set_user(self, user: str) -> None:
        """Name someone else in the audit trail from now on (another person unlocked).

        Under the write lock, so a save already under way is recorded for whoever made it.
        On a team database the audit trail names the signed-in database account, whatever was
        typed: this changes nothing there.
        """
        if self.is_team:
            return
        with self._write:
            self.user = user

    # -- rights -------------------------------------------------------------------------------

    def require(self, needed: Role, doing: str) -> None:
        """NotAllowed, naming the role needed, when the signed-in role may not do ``doing``
        (a phrase: "saving a record"). Always allowed on the local store."""
        allowed = self.role.can_administer if needed is Role.ADMIN else self.role.can_edit
        if needed is Role.REVIEW or allowed:
            return
        raise NotAllowed(
            f"{doing[:1].upper()}{doing[1:]} needs {_ROLE_NEEDED[needed]}; the account "
            f"{self.user} has the {self.role.value} role. Ask the service's administrator."
        )

    # -- changes by anyone --------------------------------------------------------------------

    def change_token(self) -> str:
        """A short text that changes whenever a record, a call attempt or an export batch
        changes, on any PC: the window polls it (every ~2 s) and refreshes its lists when it
        differs. Index look-ups only (a few ms at 50,000 records).

        Every change of a record writes an audit entry (create, edit, delete, restore, purge),
        so the newest audit id stands for all of them; writes are serialised (one writer at a
        time), so ids are committed in order and a later commit never hides behind a higher
        id. Calls are only added; batches also change state, hence their newest state time.
        """
        a, c, b = AuditEntry.__table__.c, CallAttempt.__table__.c, ExportBatch.__table__.c
        query = select(
            select(func.max(a.id)).scalar_subquery(),
            select(func.max(c.id)).scalar_subquery(),
            select(func.max(b.seq)).scalar_subquery(),
            select(func.max(b.state_at)).scalar_subquery(),
            select(func.count()).select_from(ExportBatch.__table__).scalar_subquery(),
            select(Meta.value).where(Meta.key == derivation.FINGERPRINT_KEY).scalar_subquery(),
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return ":".join("" if v is None else str(v) for v in row)

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The current moment as stored: naive UTC."""
        return _utc(self._clock())

    def today(self) -> date:
        """Today's date where the user is (the rules count days in local dates)."""
        moment = self._clock()
        return moment.astimezone().date() if moment.tzinfo else moment.date()

    # -- evaluating ---------------------------------------------------------------------------

    def evaluate(self, answers: Mapping[str, Any], record_id: int | None = None) -> Evaluation:
        """What the rules say about these answers, duplicate checks included; writes nothing.

        The form calls this as the user types.
        """
        with self.engine.connect() as conn:
            ev, _ = self._evaluator.evaluate(
                normalise_answers(answers), StoreHooks(conn), record_id
            )
        return ev

    @contextmanager
    def write_transaction(self, need: Role = Role.ENTRY) -> Iterator[Connection]:
        """One transaction under the store's one-writer lock, for modules that write their own
        tables (export batches, import): the GUI thread and a worker never interleave writes,
        and (BEGIN IMMEDIATE; on a team database the advisory lock) neither do two processes
        or two PCs. ``need``: the role the work needs (NotAllowed before anything is written).
        """
        self.require(need, "this change")
        with self._writing() as conn:
            yield conn

    @contextmanager
    def _writing(self, immediate: bool = True) -> Iterator[Connection]:
        """A write transaction that holds the database's write lock from its first statement.

        SQLite's default deferred BEGIN takes the lock only at the first write, so what was read
        before it (a record's version, the import's fingerprint) could be changed by another
        process in between; BEGIN IMMEDIATE makes the check and the write one step
        (``immediate=False`` keeps the deferred BEGIN, for writes that read nothing first).
        A team database takes its advisory lock in every case: waiting for it is cheap, and
        the order of commits is then the order of the audit ids (``change_token``).
        """
        with self._write, self.engine.begin() as conn:
            if self.is_team:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})
            elif immediate and conn.dialect.name == "sqlite":
                driver = conn.connection.driver_connection
                if driver is not None and not driver.in_transaction:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    # -- records ------------------------------------------------------------------------------

    def new_record(self, answers: Mapping[str, Any]) -> int:
        """Save a new record; returns its id. Never refused for what the answers say."""
        self.require(Role.ENTRY, "saving a record")
        clean = normalise_answers(answers)
        with self._writing() as conn:
            ev, derived = self._evaluator.evaluate(clean, StoreHooks(conn), None)
            now = self.now()
            inserted = conn.execute(
                insert(records_table).values(
                    uuid=str(uuidlib.uuid4()),
                    answers=dump_json(clean),
                    created_at=now,
                    created_by=self.user,
                    updated_at=now,
                    updated_by=self.user,
                    **derived,
                )
            ).inserted_primary_key
            assert inserted is not None  # a single-row insert always has one
            record_id = int(inserted[0])
            audit.write(
                conn, [audit.entry(now, self.user, record_id, audit.CREATE, None, None, clean)]
            )
            self._refresh_keys(conn, {ev.key}, exclude=record_id)
        log.info("record %d created (%s)", record_id, ev.status)
        return record_id

    def save(
        self,
        record_id: int,
        answers: Mapping[str, Any],
        reason: str | None = None,
        *,
        base_version: int | None = None,
        base_answers: Mapping[str, Any] | None = None,
    ) -> Evaluation:
        """Replace a record's answers; one audit entry per changed question, with ``reason``.

        Without ``base_version`` the answers are written as given (callers that load and save at
        once). With it, a save based on an older version is merged as ``save_versioned`` does,
        and questions changed on both sides raise ``SaveConflict`` after the rest is written.
        """
        result = self._save(record_id, answers, reason, base_version, base_answers)
        if result.conflicts:
            raise SaveConflict(result)
        return result.evaluation

    def save_versioned(
        self,
        record_id: int,
        answers: Mapping[str, Any],
        *,
        base_version: int,
        base_answers: Mapping[str, Any] | None,
        reason: str | None = None,
    ) -> SaveResult:
        """Save answers edited from ``base_answers`` at ``base_version`` (as loaded or as the
        last save returned them).

        When someone else saved the record meanwhile, their changes are never overwritten: a
        question changed on one side only takes that side's value, and one changed on both sides
        to different values keeps theirs and comes back in ``conflicts`` (with who changed it
        and when) for the user to decide; saving again based on the returned version and
        answers writes the choice. Check and write are one transaction (BEGIN IMMEDIATE here;
        on a server database the conditional UPDATE ... WHERE version = :found is the guard).
        """
        return self._save(record_id, answers, reason, base_version, base_answers)

    def _save(
        self,
        record_id: int,
        answers: Mapping[str, Any],
        reason: str | None,
        base_version: int | None,
        base_answers: Mapping[str, Any] | None,
    ) -> SaveResult:
        self.require(Role.ENTRY, "saving a record")
        mine = normalise_answers(answers)
        base = None if base_answers is None else normalise_answers(base_answers)
        for _attempt in range(5):
            try:
                with self._writing() as conn:
                    result = self._save_in(conn, record_id, mine, reason, base_version, base)
            except _Moved:
                continue
            log.info(
                "record %d saved: version %d, %d question(s) merged, %d in conflict (%s)",
                record_id,
                result.version,
                len(result.theirs) - len(result.conflicts),
                len(result.conflicts),
                result.evaluation.status,
            )
            return result
        raise StoreError(f"Record {record_id} kept changing while it was being saved; try again.")

    def _save_in(
        self,
        conn: Connection,
        record_id: int,
        mine: dict[str, Any],
        reason: str | None,
        base_version: int | None,
        base: dict[str, Any] | None,
    ) -> SaveResult:
        t = records_table.c
        row = self._row(conn, record_id)
        if row.deleted_at is not None:
            raise ValueError(f"Record {record_id} is deleted; restore it before editing it.")
        old = _answers(row.answers)
        found = int(row.version)
        if base_version is None or base_version == found:
            final, taken, clashing = mine, list[str](), list[str]()
        else:
            final, taken, clashing = three_way(base, mine, old)
        ev, derived = self._evaluator.evaluate(final, StoreHooks(conn), record_id)
        now = self.now()
        entries = audit.changes(old, final, now, self.user, record_id, reason)
        # Only the columns that changed: SQLite rewrites the index entries of every column named
        # in SET, and each rewritten page costs encryption and WAL bytes.
        values = _changed(row, derived)
        version = found
        if entries:
            version = found + 1
            values.update(
                answers=dump_json(final), updated_at=now, updated_by=self.user, version=version
            )
        if values:
            done = conn.execute(
                update(records_table).where(t.id == record_id, t.version == found), values
            )
            if done.rowcount != 1:
                # Written by someone else between the read and the write (possible only where
                # the read took no write lock, as on a server database): read and merge again.
                raise _Moved
        audit.write(conn, entries)
        if row.match_key != ev.key:
            self._refresh_keys(conn, {row.match_key, ev.key}, exclude=record_id)
        conflicts = tuple(self._conflict(conn, record_id, k, mine, old, base) for k in clashing)
        return SaveResult(ev, version, final, tuple(taken + clashing), conflicts)

    @staticmethod
    def _conflict(
        conn: Connection,
        record_id: int,
        key: str,
        mine: Mapping[str, Any],
        theirs: Mapping[str, Any],
        base: Mapping[str, Any] | None,
    ) -> Conflict:
        a = audit.audit_table.c
        last = conn.execute(
            select(a.user, a.at)
            .where(a.record_id == record_id, a.question == key)
            .order_by(a.id.desc())
            .limit(1)
        ).first()
        return Conflict(
            question=key,
            mine=mine.get(key),
            theirs=theirs.get(key),
            base=None if base is None else base.get(key),
            changed_by=last.user if last is not None else None,
            changed_at=last.at if last is not None else None,
        )

    def load(self, record_id: int) -> StoredRecord:
        with self.engine.connect() as conn:
            row = self._row(conn, record_id)
        return StoredRecord(
            id=row.id,
            uuid=row.uuid,
            answers=_answers(row.answers),
            dataset_id=row.dataset_id,
            status=row.status,
            has_errors=bool(row.has_errors),
            missing_count=row.missing_count,
            match_key=row.match_key,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            deleted_at=row.deleted_at,
            deleted_reason=row.deleted_reason,
            deleted_note=row.deleted_note,
            version=int(row.version),
        )

    def audit_trail(self, record_id: int) -> list[audit.AuditItem]:
        with self.engine.connect() as conn:
            return audit.trail(conn, record_id)

    def live_count(self) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).where(records_table.c.deleted_at.is_(None))
            return int(conn.scalar(query) or 0)

    def bulk_insert(
        self, answer_sets: Sequence[Mapping[str, Any]], chunk_size: int = 2000
    ) -> list[int]:
        """Create many records in one transaction (import, benchmark): executemany, not ORM.

        Duplicates among the new records themselves are caught too (the hooks see the pending
        batch), and records they clash with are re-evaluated afterwards.
        """
        if not answer_sets:
            return []
        self.require(Role.ENTRY, "creating records")
        now = self.now()
        with self._writing(immediate=False) as conn:
            # On the server each SQL look-up is a round trip: answer them from memory there.
            hooks: BatchHooks | derivation.IndexedBatchHooks = (
                derivation.IndexedBatchHooks(conn) if self.is_team else BatchHooks(conn)
            )
            # Ids are assigned here, under the write lock, so that the batch hooks can name a
            # pending record as "the other record" before it is written.
            ids = reserve_record_ids(conn, len(answer_sets))
            rows: list[dict[str, Any]] = []
            audits: list[dict[str, Any]] = []
            for record_id, answers in zip(ids, answer_sets, strict=True):
                clean = normalise_answers(answers)
                ev, derived = self._evaluator.evaluate(clean, hooks, record_id)
                hooks.add(record_id, ev.key, derived["nhs_number"], derived["diagnosed"])
                rows.append(
                    {
                        "id": record_id,
                        "uuid": str(uuidlib.uuid4()),
                        "answers": dump_json(clean),
                        "created_at": now,
                        "created_by": self.user,
                        "updated_at": now,
                        "updated_by": self.user,
                        **derived,
                    }
                )
                audits.append(
                    audit.entry(now, self.user, record_id, audit.CREATE, None, None, clean)
                )
                if len(rows) >= chunk_size:
                    conn.execute(insert(records_table), rows)
                    audit.write(conn, audits)
                    rows, audits = [], []
            if rows:
                conn.execute(insert(records_table), rows)
                audit.write(conn, audits)
            # A record evaluated early in the batch did not see a later one with its key.
            self._refresh_keys(conn, hooks.clashes)
        log.info("bulk insert: %d records created", len(ids))
        return ids

    # -- deletion -----------------------------------------------------------------------------

    def delete(self, record_id: int, reason: str, note: str | None = None) -> None:
        """Move a record to the deleted view (restorable for 30 days); ``reason`` as the
        webtool's, and "Other" needs ``note``."""
        self.require(Role.ADMIN, "deleting a record")
        text = check_delete_reason(reason, note)
        with self._writing() as conn:
            row = self._row(conn, record_id)
            if row.deleted_at is not None:
                raise ValueError(f"Record {record_id} is already deleted.")
            now = self.now()
            conn.execute(
                update(records_table)
                .where(records_table.c.id == record_id)
                .values(
                    deleted_at=now,
                    deleted_reason=reason,
                    deleted_note=text,
                    version=records_table.c.version + 1,
                )
            )
            audit.write(
                conn,
                [audit.entry(now, self.user, record_id, audit.DELETE, None, None, text, reason)],
            )
            # It no longer counts as a duplicate of anything.
            self._refresh_keys(conn, {row.match_key}, exclude=record_id)
        log.info("record %d deleted (%s)", record_id, reason)

    def restore(self, record_id: int) -> Evaluation:
        self.require(Role.ADMIN, "restoring a deleted record")
        with self._writing() as conn:
            row = self._row(conn, record_id)
            if row.deleted_at is None:
                raise ValueError(f"Record {record_id} is not deleted.")
            if self._days_left(row.deleted_at) <= 0:
                raise ValueError(
                    f"Record {record_id} was deleted more than {RETENTION_DAYS} days ago "
                    "and can no longer be restored."
                )
            now = self.now()
            conn.execute(
                update(records_table)
                .where(records_table.c.id == record_id)
                .values(
                    deleted_at=None,
                    deleted_reason=None,
                    deleted_note=None,
                    version=records_table.c.version + 1,
                )
            )
            ev, derived = self._evaluator.evaluate(
                _answers(row.answers), StoreHooks(conn), record_id
            )
            conn.execute(update(records_table).where(records_table.c.id == record_id), derived)
            audit.write(
                conn,
                [audit.entry(now, self.user, record_id, audit.RESTORE, reason=row.deleted_reason)],
            )
            self._refresh_keys(conn, {ev.key}, exclude=record_id)
        log.info("record %d restored", record_id)
        return ev

    def deleted_records(self) -> list[DeletedRecord]:
        t = records_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.id,
                    t.uuid,
                    t.nhs_number,
                    t.name,
                    t.diagnosed,
                    t.deleted_at,
                    t.deleted_reason,
                    t.deleted_note,
                )
                .where(t.deleted_at.is_not(None))
                .order_by(t.deleted_at.desc(), t.id)
            ).all()
        return [
            DeletedRecord(
                id=r.id,
                uuid=r.uuid,
                nhs_number=r.nhs_number,
                name=r.name,
                diagnosed=r.diagnosed,
                deleted_at=r.deleted_at,
                reason=r.deleted_reason,
                note=r.deleted_note,
                days_left=max(0, self._days_left(r.deleted_at)),
            )
            for r in rows
        ]

    def purge_expired(self) -> list[int]:
        """Remove for good the records deleted 30 or more days ago (run at start-up).

        Their audit history goes with them; one "purge" entry per record, holding no patient
        data, says when, by whom and why it was deleted.
        """
        self.require(Role.ADMIN, "removing expired deleted records")
        t = records_table.c
        cutoff = self.now() - timedelta(days=RETENTION_DAYS)
        with self._writing(immediate=False) as conn:
            rows = conn.execute(
                select(t.id, t.uuid, t.deleted_at, t.deleted_reason).where(
                    and_(t.deleted_at.is_not(None), t.deleted_at <= cutoff)
                )
            ).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            conn.execute(records_table.delete().where(t.id.in_(ids)))
            # Allowed by the audit trigger only now that the records are gone.
            conn.execute(audit.audit_table.delete().where(audit.audit_table.c.record_id.in_(ids)))
            now = self.now()
            audit.write(
                conn,
                [
                    audit.entry(
                        now,
                        self.user,
                        r.id,
                        audit.PURGE,
                        new_value={"uuid": r.uuid, "deleted_at": r.deleted_at.isoformat()},
                        reason=r.deleted_reason,
                    )
                    for r in rows
                ],
            )
        log.info("purged %d record(s) deleted more than %d days ago", len(ids), RETENTION_DAYS)
        return ids

    def _days_left(self, deleted_at: datetime) -> int:
        expires = deleted_at + timedelta(days=RETENTION_DAYS)
        remaining = expires - self.now()
        # Whole days, rounded up: "1 day left" until the very moment it expires.
        return -((-remaining) // timedelta(days=1))

    # -- duplicates ---------------------------------------------------------------------------

    def possible_duplicates(self) -> list[DuplicatePair]:
        """Every pair of live records sharing a match key."""
        live = records_table.c.deleted_at.is_(None)
        # The clashing keys first, from the partial index alone; then pairs among those only.
        clashing = (
            select(records_table.c.match_key)
            .where(live, records_table.c.match_key.is_not(None))
            .group_by(records_table.c.match_key)
            .having(func.count() > 1)
        )
        a = aliased(Record)
        b = aliased(Record)
        query = (
            select(a.id, b.id, a.match_key)
            .join(b, and_(a.match_key == b.match_key, a.id < b.id))
            .where(a.deleted_at.is_(None), b.deleted_at.is_(None), a.match_key.in_(clashing))
            .order_by(a.id, b.id)
        )
        with self.engine.connect() as conn:
            return [DuplicatePair(x, y, str(k)) for x, y, k in conn.execute(query)]

    # -- settings -----------------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            return settings_mod.get(conn, key, default)

    def set_setting(self, key: str, value: Any) -> None:
        self.require(Role.ADMIN, "changing the service's settings")
        with self._writing(immediate=False) as conn:
            settings_mod.set_(conn, key, value)
        log.info("setting %s changed", key)

    # -- keeping derived columns true ---------------------------------------------------------

    def refresh_stale(self) -> int:
        """Re-evaluate the live records whose stored status the calendar may have changed.

        Status depends on today (6.01 becomes required from day 113, 7.01 from day 393; a date
        "in the future" stops being one), so rows evaluated on an earlier day are refreshed when
        their 1.09 is recent enough for a ``days_since`` rule to matter, or when they have errors.
        """
        self.require(Role.ENTRY, "refreshing the records for today")
        today = self.today()
        horizon = today - timedelta(days=self._evaluator.time_sensitive_days() + 1)
        t = records_table.c
        with self._writing(immediate=False) as conn:
            ids = list(
                conn.scalars(
                    select(t.id).where(
                        t.deleted_at.is_(None),
                        t.evaluated_on < today,
                        or_(t.diagnosed >= horizon, t.has_errors.is_(True)),
                    )
                )
            )
            self._reevaluate(conn, ids)
        if ids:
            log.info("re-evaluated %d record(s) for today's date", len(ids))
        return len(ids)

    def rederive_due(self) -> bool:
        """Whether the records were derived with other definitions than those in use."""
        with self.engine.connect() as conn:
            stored = derivation.stored_fingerprint(conn)
        return stored != derivation.fingerprint(self.definitions)

    def rederive(self, progress: Progress | None = None) -> Rederived | None:
        """Derive every live record again if the definitions changed since the last time, in
        one transaction with the new fingerprint (all or nothing); None when nothing to do.

        The result is also kept in ``self.rederived``.
        """
        wanted = derivation.fingerprint(self.definitions)
        if not self.role.can_edit:
            return None  # deriving writes every record: left to the next editor who opens
        with self._writing() as conn:
            if derivation.stored_fingerprint(conn) == wanted:
                return None
            result = derivation.rederive_all(conn, self._evaluator, progress)
            derivation.write_fingerprint(conn, wanted)
        self.rederived = result
        log.info(
            "definitions changed: %d record(s) derived again, %d changed status",
            result.total,
            result.changed_status,
        )
        return result

    def _refresh_keys(
        self, conn: Connection, keys: Iterable[str | None], exclude: int | None = None
    ) -> None:
        wanted = [k for k in keys if k is not None]
        if not wanted:
            return
        t = records_table.c
        query = select(t.id).where(t.match_key.in_(wanted), t.deleted_at.is_(None))
        if exclude is not None:
            query = query.where(t.id != exclude)
        self._reevaluate(conn, list(conn.scalars(query)))

    def _reevaluate(self, conn: Connection, ids: list[int]) -> None:
        """Update the derived columns only: nobody edited these records, so no audit entry."""
        derivation.reevaluate(conn, self._evaluator, ids)

    @staticmethod
    def _row(conn: Connection, record_id: int) -> sqlalchemy.Row[Any]:
        row = conn.execute(select(records_table).where(records_table.c.id == record_id)).first()
        if row is None:
            raise RecordNotFound(record_id)
        return row


class _Moved(Exception):
    """The record's version changed between reading it and writing it: roll back, retry."""


def _changed(row: sqlalchemy.Row[Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    current = row._mapping
    return {k: v for k, v in derived.items() if current[k] != v}


_answers = answers_from_json


def _release(lock: StoreLock | None) -> None:
    if lock is not None:
        lock.release()
