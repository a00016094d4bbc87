"""The server's own rights in a team database: each group may do its part and the server refuses
the rest, whatever a client sends (raw SQL) and whatever the Store would have checked first."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import text

from flsdesk.store import team
from flsdesk.store.address import StoreAddress
from flsdesk.store.errors import NotAllowed, SignInRefused
from flsdesk.store.pg import create_pg_engine
from flsdesk.store.roles import Role, group_role
from flsdesk.store.store import Store
from tests.helpers.conftest_records import FakeClock, complete_answers, nhs_number
from tests.helpers.team_db import (
    ADMIN_PASSWORD,
    ENTRY_PASSWORD,
    TeamDb,
    team_db_fixture,  # noqa: F401  (fixture)
)


@pytest.fixture(autouse=True)
def _no_team_environment(monkeypatch):
    monkeypatch.delenv("FLSDESK_STORE", raising=False)
    monkeypatch.delenv("FLSDESK_DB_PASSWORD", raising=False)


def _open(t: TeamDb, user: str, tmp_path) -> Store:
    from flsdesk.paths import resolve

    return Store.open_team(
        StoreAddress.parse(t.address(user)), t.password(user), paths=resolve(tmp_path / user)
    )


def _refused(conn: psycopg.Connection, statement: str) -> None:
    with pytest.raises(pg_errors.InsufficientPrivilege):
        conn.execute(statement)
    conn.rollback()


def _a_record(t: TeamDb, tmp_path) -> int:
    with _open(t, t.entry, tmp_path) as store:
        return store.new_record(complete_answers(nhs_number(123456780)))


def test_the_groups_and_their_people(team_db: TeamDb):
    with team_db.superuser_engine().connect() as conn:
        people = {p.name: p.role for p in team.list_users(conn, team_db.name)}
    assert people == {
        team_db.admin: Role.ADMIN,
        team_db.entry: Role.ENTRY,
        team_db.review: Role.REVIEW,
    }


def test_a_review_users_write_is_refused_by_the_server(team_db: TeamDb, tmp_path):
    record_id = _a_record(team_db, tmp_path)
    # Raw SQL: the server itself refuses, whatever the program would have done.
    with psycopg.connect(team_db.url(team_db.review)) as conn:
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 1
        _refused(conn, f"UPDATE records SET status = 'x' WHERE id = {record_id}")
        _refused(conn, "DELETE FROM records")
        _refused(conn, "INSERT INTO audit (at, \"user\", action) VALUES (now(), 'me', 'x')")
        _refused(conn, "UPDATE settings SET value = '\"x\"'")
        _refused(conn, "INSERT INTO call_attempts (record_id) VALUES (1)")
    # Through the Store: its engine signed in as the review user, its own write transaction;
    # the server's refusal comes back as NotAllowed.
    with _open(team_db, team_db.review, tmp_path) as store:
        assert store.role is Role.REVIEW
        assert store.load(record_id).answers["1.01"] == nhs_number(123456780)
        with pytest.raises(NotAllowed), store.write_transaction() as conn:
            conn.execute(
                text("UPDATE records SET version = version + 1 WHERE id = :i"), {"i": record_id}
            )
        # And the Store's own check, before the server is asked.
        with pytest.raises(NotAllowed):
            store.save(record_id, {**store.load(record_id).answers, "name": "Changed"})
    with _open(team_db, team_db.admin, tmp_path) as store:
        assert store.load(record_id).answers["name"] == "Test Patient"
        assert store.load(record_id).version == 1


def test_entry_edits_records_but_cannot_export_or_change_settings(team_db: TeamDb, tmp_path):
    with _open(team_db, team_db.entry, tmp_path) as store:
        assert store.role is Role.ENTRY
        record_id = store.new_record(complete_answers(nhs_number(223456780)))
        answers = store.load(record_id).answers
        store.save(record_id, {**answers, "name": "Edited By Entry"})
        trail = store.audit_trail(record_id)
        assert {item.user for item in trail} == {team_db.entry}  # the database user
        with pytest.raises(NotAllowed):
            store.set_setting("upload_url", "https://evil.example/")
    with psycopg.connect(team_db.url(team_db.entry)) as conn:
        _refused(conn, "UPDATE settings SET value = '\"x\"' WHERE key = 'service_name'")
        _refused(conn, "INSERT INTO settings (key, value) VALUES ('upload_url', '\"x\"')")
        _refused(
            conn,
            "INSERT INTO export_batches (batch_id, created_at, created_by, scope, profile, "
            "file_path, file_sha256, record_count, state, state_at, attempts) VALUES "
            "('b', now(), 'me', 'all', 'p', 'f', 's', 0, 'exported', now(), 0)",
        )
        _refused(conn, "DELETE FROM export_batches")
        _refused(
            conn,
            "INSERT INTO optout_lists (created_at, created_by, nhs_numbers) "
            "VALUES (now(), 'me', '[]')",
        )
        _refused(conn, f"DELETE FROM records WHERE id = {record_id}")
        # Row security: the one setting an entry open may retire, nothing else.
        gone = conn.execute("DELETE FROM settings WHERE key = 'service_name'").rowcount
        conn.commit()
        assert gone == 0
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '999')")
        conn.rollback()
        assert conn.execute("SELECT value FROM settings WHERE key = 'service_name'").fetchone()
    with _open(team_db, team_db.admin, tmp_path) as store:
        assert store.get_setting("service_name") == "Team FLS"
        store.set_setting("upload_url", "https://upload.example.nhs.uk/in")
        assert store.get_setting("upload_url") == "https://upload.example.nhs.uk/in"


def test_the_audit_trail_cannot_be_changed_even_by_an_admin(team_db: TeamDb, tmp_path):
    record_id = _a_record(team_db, tmp_path)
    with psycopg.connect(team_db.url(team_db.admin)) as conn:
        _refused(conn, "UPDATE audit SET \"user\" = 'someone else'")
        # DELETE is the admin's for the purge only: a living record's history stays.
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute(f"DELETE FROM audit WHERE record_id = {record_id}")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] >= 1


def test_the_admins_purge_removes_a_record_deleted_30_days_ago(team_db: TeamDb, tmp_path):
    from flsdesk.paths import resolve

    clock = FakeClock()
    where = StoreAddress.parse(team_db.address(team_db.admin))
    paths = resolve(tmp_path / "admin")
    with Store.open_team(where, ADMIN_PASSWORD, paths=paths, clock=clock) as store:
        record_id = store.new_record(complete_answers(nhs_number(323456780)))
        store.delete(record_id, "Test record")
    clock.advance(days=31)
    # An entry user's open leaves the purge to an admin (it has no right to it).
    entry = StoreAddress.parse(team_db.address(team_db.entry))
    with Store.open_team(entry, ENTRY_PASSWORD, paths=paths, clock=clock) as store:
        assert [r.id for r in store.deleted_records()] == [record_id]
    with Store.open_team(where, ADMIN_PASSWORD, paths=paths, clock=clock) as store:
        assert store.deleted_records() == []
        trail = store.audit_trail(record_id)
        assert [item.action for item in trail] == ["purge"]


def test_nobody_outside_the_groups_gets_in(team_db: TeamDb, pg_cluster):
    outsider = f"out_{team_db.name.removeprefix('fls_')}"
    pg_cluster.sql(f"CREATE ROLE \"{outsider}\" LOGIN PASSWORD 'outsider-password'")
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(team_db.db.url(outsider, "outsider-password"))
        # Told as a refused sign-in, not as a server out of reach.
        where = StoreAddress.parse(team_db.address(outsider))
        engine = create_pg_engine(where, "outsider-password")
        try:
            with pytest.raises(SignInRefused), engine.connect():
                pass
        finally:
            engine.dispose()
    finally:
        pg_cluster.sql(f'DROP ROLE "{outsider}"')


def test_only_an_admin_manages_people(team_db: TeamDb):
    entry = create_pg_engine(
        StoreAddress.parse(team_db.address(team_db.entry)), team_db.password(team_db.entry)
    )
    try:
        with pytest.raises(NotAllowed):
            team.add_user(entry, f"x_{team_db.name[-6:]}", Role.ADMIN, "a-long-password-1")
        with pytest.raises(NotAllowed):
            team.remove_user(entry, team_db.review)
    finally:
        entry.dispose()
    with team_db.superuser_engine().connect() as conn:
        assert {p.name for p in team.list_users(conn, team_db.name)} == {
            team_db.admin,
            team_db.entry,
            team_db.review,
        }


def test_remove_user_stops_sign_in_and_ends_an_open_session(team_db: TeamDb):
    session = psycopg.connect(team_db.url(team_db.entry))
    assert session.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    admin = create_pg_engine(
        StoreAddress.parse(team_db.address(team_db.admin)), team_db.password(team_db.admin)
    )
    try:
        team.remove_user(admin, team_db.entry)
        assert {p.name for p in team.users(admin)} == {team_db.admin, team_db.review}
        # The last admin stays: nobody could manage people afterwards.
        with pytest.raises(Exception, match="cannot remove yourself"):
            team.remove_user(admin, team_db.admin)
    finally:
        admin.dispose()
    with pytest.raises(psycopg.Error):
        session.execute("SELECT count(*) FROM records")
    session.close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(team_db.url(team_db.entry))
    engine = create_pg_engine(
        StoreAddress.parse(team_db.address(team_db.entry)), team_db.password(team_db.entry)
    )
    try:
        with pytest.raises(SignInRefused), engine.connect():
            pass
    finally:
        engine.dispose()


def test_a_new_password_reaches_the_server_only_as_a_verifier(team_db: TeamDb, pg_cluster):
    """log_statement=all writes every statement to the server's log: the clear password must
    not be in it, and the server keeps a SCRAM verifier."""
    name = f"new_{team_db.name.removeprefix('fls_')}"
    password = "Clear-Text-Never-Logged-42"
    pg_cluster.sql(f"ALTER DATABASE \"{team_db.name}\" SET log_statement = 'all'")
    admin = create_pg_engine(
        StoreAddress.parse(team_db.address(team_db.admin)), team_db.password(team_db.admin)
    )
    try:
        team.add_user(admin, name, Role.ENTRY, password)
    finally:
        admin.dispose()
    try:
        with psycopg.connect(team_db.db.url(name, password)) as conn:
            assert conn.execute("SELECT session_user").fetchone()[0] == name
        with psycopg.connect(pg_cluster.url()) as conn:
            stored = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,)
            ).fetchone()[0]
        assert stored.startswith("SCRAM-SHA-256$")
        server_log = (pg_cluster.folder / "server.log").read_text(errors="replace")
        assert "flsdesk_add_user" in server_log  # the statement was logged…
        assert password not in server_log  # …without the password
    finally:
        pg_cluster.sql(f'DROP ROLE IF EXISTS "{name}"')


def test_bad_names_and_short_passwords_are_refused_before_the_server(team_db: TeamDb):
    admin = create_pg_engine(
        StoreAddress.parse(team_db.address(team_db.admin)), team_db.password(team_db.admin)
    )
    try:
        for bad in ("Upper", "pg_x", "1abc", "a b", "x;drop"):
            with pytest.raises(ValueError, match="cannot be a database user name"):
                team.add_user(admin, bad, Role.ENTRY, "a-long-password-1")
        with pytest.raises(ValueError, match="at least"):
            team.add_user(admin, "shorty", Role.ENTRY, "short")
        with pytest.raises(ValueError, match="which name groups"):
            team.add_user(admin, group_role("otherdb", Role.ADMIN), Role.ENTRY, "a-long-pw-12")
    finally:
        admin.dispose()
    # The server's function checks the same, whatever a client sends.
    with psycopg.connect(team_db.url(team_db.admin)) as conn:
        for bad in ("Upper", "pg_x", group_role(team_db.name, Role.ADMIN), "later_db_entry"):
            with pytest.raises(pg_errors.InvalidName):
                conn.execute("SELECT flsdesk_add_user(%s, 'entry', NULL)", (bad,))
            conn.rollback()
        with pytest.raises(pg_errors.InvalidParameterValue):
            conn.execute("SELECT flsdesk_add_user('fine_name', 'superuser', NULL)")
        conn.rollback()
        with pytest.raises(pg_errors.InvalidParameterValue, match="SCRAM"):
            conn.execute("SELECT flsdesk_add_user('fine_name', 'entry', 'clear-password')")


def test_an_account_named_like_a_group_is_never_taken_as_one(pg_database, pg_cluster):
    """Someone made a login account under the name the groups of a database made later would
    have: init refuses rather than give that account the group's rights."""
    from tests.helpers.team_db import set_up

    squatter = group_role(pg_database.name, Role.ADMIN)
    pg_cluster.sql(f"CREATE ROLE \"{squatter}\" LOGIN PASSWORD 'squatter-password'")
    try:
        with pytest.raises(team.TeamError, match="cannot be this database's group"):
            set_up(pg_database)
        with psycopg.connect(pg_database.admin_url) as conn:
            grants = conn.execute(
                "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = %s",
                (squatter,),
            ).fetchone()[0]
        assert grants == 0
    finally:
        pg_cluster.sql(f'DROP ROLE "{squatter}"')
