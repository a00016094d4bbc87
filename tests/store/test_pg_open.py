"""Opening a team database: who signs in with which role, what the start-up housekeeping may
write, the schema's version, and clear errors for every way the opening can fail."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy import inspect, text

from flsdesk.paths import AppPaths
from flsdesk.store import team_schema
from flsdesk.store.errors import (
    CertificateRefused,
    NewerSchema,
    NoStore,
    NotAllowed,
    ServerUnreachable,
    SignInRefused,
    StoreError,
)
from flsdesk.store.migrations import CURRENT_SCHEMA, PG_VERSION_KEY
from flsdesk.store.models import Base
from flsdesk.store.pg import classify, create_pg_engine
from flsdesk.store.rederive import FINGERPRINT_KEY as FINGERPRINT
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_USER,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
)
from tests.helpers.pg import SUPERUSER, PgCluster
from tests.helpers.pg_store import LOGIN_PASSWORD, TeamDatabase, TestAddress, make_team_database


@pytest.fixture
def team(pg_cluster: PgCluster) -> Iterator[TeamDatabase]:
    db = make_team_database(pg_cluster)
    yield db
    db.drop()


def _open(team: TeamDatabase, user: str, paths: AppPaths, clock: FakeClock, **kw) -> Store:
    return Store.open_team(team.address(user), LOGIN_PASSWORD, paths=paths, clock=clock, **kw)


def test_each_person_opens_with_their_role_and_is_named_in_the_audit_trail(
    team: TeamDatabase, paths: AppPaths, clock: FakeClock
) -> None:
    for name, role in (("ann_admin", Role.ADMIN), ("eve_entry", Role.ENTRY)):
        team.add_login(f"{team.name}_{name}", role)
    team.add_login(f"{team.name}_rob_review", Role.REVIEW)
    with _open(team, f"{team.name}_eve_entry", paths, clock) as store:
        assert (store.is_team, store.role, store.user) == (
            True,
            Role.ENTRY,
            f"{team.name}_eve_entry",
        )
        assert LOGIN_PASSWORD not in store.address_display
        assert team.name in store.address_display
        rid = store.new_record(complete_answers(nhs_number(943476591)))
        assert {e.user for e in store.audit_trail(rid)} == {f"{team.name}_eve_entry"}
        store.set_user("XY (typed)")  # what was typed never replaces the signed-in account
        store.save(rid, {**store.load(rid).answers, "2.01": 170})
        assert store.audit_trail(rid)[-1].user == f"{team.name}_eve_entry"
    with _open(team, f"{team.name}_rob_review", paths, clock) as store:
        assert store.role is Role.REVIEW
        assert store.load(rid).answers["2.01"] == 170
    with _open(team, f"{team.name}_ann_admin", paths, clock) as store:
        assert store.role is Role.ADMIN


def test_the_dba_superuser_counts_as_admin(team: TeamDatabase, paths, clock) -> None:
    with Store.open_team(
        team.admin_address, team.cluster.password, paths=paths, clock=clock
    ) as store:
        assert store.role is Role.ADMIN and store.user == SUPERUSER


def test_an_account_in_no_role_is_told_to_ask_for_one(team: TeamDatabase, paths, clock) -> None:
    team.cluster.sql(f"CREATE ROLE \"{team.name}_nobody\" LOGIN PASSWORD '{LOGIN_PASSWORD}'")
    team.logins.append(f"{team.name}_nobody")
    # The groups alone may connect (team init revokes CONNECT from PUBLIC): the server turns the
    # account away at sign-in, and the person is told to ask for a role.
    with pytest.raises(SignInRefused, match="the account is not allowed in"):
        _open(team, f"{team.name}_nobody", paths, clock)


def test_rights_are_checked_by_the_store_with_the_role_named(
    team: TeamDatabase, paths, clock
) -> None:
    team.add_login(f"{team.name}_e", Role.ENTRY)
    team.add_login(f"{team.name}_r", Role.REVIEW)
    with _open(team, f"{team.name}_e", paths, clock) as store:
        rid = store.new_record(complete_answers(nhs_number(943476591)))
        with pytest.raises(NotAllowed, match=r"needs the admin role.*entry role"):
            store.delete(rid, "Test record")
        with pytest.raises(NotAllowed, match="admin role"):
            store.set_setting("service_name", "Changed")
    with _open(team, f"{team.name}_r", paths, clock) as store:
        before = store.change_token()
        with pytest.raises(NotAllowed, match=r"needs the entry or admin role.*review role"):
            store.save(rid, {**store.load(rid).answers, "2.01": 150})
        with pytest.raises(NotAllowed):
            store.new_record(complete_answers(nhs_number(401023456)))
        with pytest.raises(NotAllowed), store.write_transaction():
            pass
        assert store.change_token() == before
        assert "2.01" not in store.load(rid).answers


def test_the_server_refuses_a_review_write_even_past_the_store(
    team: TeamDatabase, paths, clock
) -> None:
    team.add_login(f"{team.name}_r", Role.REVIEW)
    with _open_admin(team, paths, clock) as admin:
        rid = admin.new_record(complete_answers(nhs_number(943476591)))
    # Past the Store's own check, straight to the server: refused there too.
    with (
        _open(team, f"{team.name}_r", paths, clock) as store,
        pytest.raises(NotAllowed, match="refused this"),
        store.engine.begin() as conn,
    ):
        conn.execute(text("UPDATE records SET status = 'Complete' WHERE id = :i"), {"i": rid})


def _open_admin(team: TeamDatabase, paths, clock) -> Store:
    team.add_login(f"{team.name}_adm", Role.ADMIN)
    return _open(team, f"{team.name}_adm", paths, clock)


def test_review_open_writes_nothing_and_admin_open_purges(
    team: TeamDatabase, paths, clock: FakeClock
) -> None:
    team.add_login(f"{team.name}_r", Role.REVIEW)
    team.add_login(f"{team.name}_e", Role.ENTRY)
    with _open_admin(team, paths, clock) as admin:
        rid = admin.new_record(complete_answers(nhs_number(943476591)))
        admin.delete(rid, "Test record")
    clock.advance(days=31)
    for who in ("_r", "_e"):
        with _open(team, f"{team.name}{who}", paths, clock) as store:
            assert [d.id for d in store.deleted_records()] == [rid]  # not purged: not admin
    with _open(team, f"{team.name}_adm", paths, clock) as admin:
        assert admin.deleted_records() == []


def test_the_review_role_opens_a_store_whose_definitions_changed_without_writing(
    team: TeamDatabase, paths, clock
) -> None:
    team.add_login(f"{team.name}_r", Role.REVIEW)
    with _open_admin(team, paths, clock) as admin:
        admin.new_record(complete_answers(nhs_number(943476591)))
        with admin.engine.begin() as conn:
            conn.execute(
                text("UPDATE meta SET value = 'old' WHERE key = 'definitions_fingerprint'")
            )
    with _open(team, f"{team.name}_r", paths, clock) as store:
        assert store.rederived is None and store.rederive_due()
    with _open(team, f"{team.name}_adm", paths, clock) as admin:
        assert admin.rederived is not None and not admin.rederive_due()


def test_the_schema_is_what_the_models_describe_and_is_recorded(team: TeamDatabase) -> None:
    engine = team.superuser_engine()
    try:
        found = inspect(engine)
        assert set(found.get_table_names()) == set(Base.metadata.tables)
        for table in Base.metadata.sorted_tables:
            columns = [c["name"] for c in found.get_columns(table.name)]
            assert columns == [c.name for c in table.columns], table.name
            indexes = {
                i["name"]: i
                for i in found.get_indexes(table.name)
                if "duplicates_constraint" not in i  # a UNIQUE constraint's own index
            }
            assert set(indexes) == {i.name for i in table.indexes}, table.name
            for index in table.indexes:
                where = index.dialect_options["postgresql"]["where"]
                predicate = indexes[index.name].get("dialect_options", {}).get("postgresql_where")
                assert (where is None) == (predicate is None), index.name
        with engine.connect() as conn:
            version = conn.scalar(
                text("SELECT value FROM meta WHERE key = :k"), {"k": PG_VERSION_KEY}
            )
            triggers = conn.scalars(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")
            ).all()
        assert int(version) == CURRENT_SCHEMA
        assert triggers == ["audit_no_delete", "audit_no_update"]
    finally:
        engine.dispose()


def test_the_audit_trail_is_append_only_on_the_server(team: TeamDatabase, paths, clock) -> None:
    """Two walls: no role, admin included, holds UPDATE on the trail (the grants refuse), and the
    trigger refuses an UPDATE even from the database's owner, and a DELETE of a live record's
    history from anyone."""
    with _open_admin(team, paths, clock) as admin:
        rid = admin.new_record(complete_answers(nhs_number(943476591)))
        with pytest.raises(NotAllowed), admin.engine.begin() as conn:
            conn.execute(text("UPDATE audit SET reason = 'x'"))
        with (
            pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"),
            admin.engine.begin() as conn,
        ):
            conn.execute(text(f"DELETE FROM audit WHERE record_id = {rid}"))
        owner = team.superuser_engine()
        try:
            with (
                pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"),
                owner.begin() as conn,
            ):
                conn.execute(text("UPDATE audit SET reason = 'x'"))
        finally:
            owner.dispose()
        assert len(admin.audit_trail(rid)) == 1


def test_create_schema_refuses_a_database_that_is_not_empty(
    team: TeamDatabase, pg_database
) -> None:
    engine = team.superuser_engine()
    try:
        with pytest.raises(StoreError, match="already"):
            team_schema.create_schema(engine)
    finally:
        engine.dispose()
    other = TestAddress("127.0.0.1", team.cluster.port, pg_database.name, SUPERUSER)
    engine = create_pg_engine(other, team.cluster.password)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE theirs (x int)"))
        with pytest.raises(StoreError, match="1 table"):
            team_schema.create_schema(engine)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT to_regclass('records')")) is None
    finally:
        engine.dispose()


def test_an_empty_database_is_no_store_yet(pg_database, pg_cluster, paths, clock) -> None:
    address = TestAddress("127.0.0.1", pg_cluster.port, pg_database.name, SUPERUSER)
    with pytest.raises(NoStore, match="team init"):
        Store.open_team(address, pg_cluster.password, paths=paths, clock=clock)


def test_a_newer_schema_is_refused_and_left_alone(team: TeamDatabase, paths, clock) -> None:
    team.run(f"UPDATE meta SET value = '{CURRENT_SCHEMA + 3}' WHERE key = '{PG_VERSION_KEY}'")
    with pytest.raises(NewerSchema, match="newer version of flsdesk"):
        _open_admin(team, paths, clock)
    engine = team.superuser_engine()
    with engine.connect() as conn:
        value = conn.scalar(text("SELECT value FROM meta WHERE key = :k"), {"k": PG_VERSION_KEY})
    engine.dispose()
    assert int(value) == CURRENT_SCHEMA + 3


def test_a_wrong_password_is_a_refused_sign_in_and_never_shown(
    team: TeamDatabase, paths, clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    address = team.add_login(f"{team.name}_e", Role.ENTRY)
    with pytest.raises(SignInRefused, match="refused the sign-in") as caught:
        Store.open_team(address, "not-the-password-9731", paths=paths, clock=clock)
    assert "not-the-password-9731" not in str(caught.value)
    assert "not-the-password-9731" not in caplog.text
    with pytest.raises(SignInRefused):  # no such account: the same answer
        Store.open_team(team.address("nobody_at_all"), "x", paths=paths, clock=clock)


def test_no_server_at_the_address_is_unreachable(pg_cluster: PgCluster, paths, clock) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: refused
        address = TestAddress("127.0.0.1", port, "db", "someone")
        with pytest.raises(ServerUnreachable, match=r"cannot be reached .*nothing answers"):
            Store.open_team(address, "pw", paths=paths, clock=clock)


def test_an_unknown_host_is_unreachable(paths, clock) -> None:
    address = TestAddress("no-such-host.invalid", 5432, "db", "someone")
    with pytest.raises(ServerUnreachable, match="host name is not known"):
        Store.open_team(address, "pw", paths=paths, clock=clock, ca_file=__file__)


def test_another_computer_needs_the_ca_file(paths, clock, tmp_path) -> None:
    address = TestAddress("db.trust.example", 5432, "db", "someone")
    with pytest.raises(CertificateRefused, match="CA certificate file in Settings"):
        Store.open_team(address, "pw", paths=paths, clock=clock)
    with pytest.raises(CertificateRefused, match="cannot be found"):
        Store.open_team(address, "pw", paths=paths, clock=clock, ca_file=tmp_path / "none.pem")


def test_a_server_without_tls_refuses_the_certificate_check(
    pg_cluster: PgCluster, paths, clock, tmp_path
) -> None:
    # The test server has no TLS: a client that must verify it stops before signing in.
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")

    class Remote(TestAddress):
        @property
        def is_this_computer(self) -> bool:
            return False

    address = Remote("127.0.0.1", pg_cluster.port, "postgres", SUPERUSER)
    with pytest.raises(CertificateRefused, match="certificate check"):
        Store.open_team(address, pg_cluster.password, paths=paths, clock=clock, ca_file=ca)


def test_classify_leaves_bugs_alone() -> None:
    import psycopg

    assert classify(ValueError("x")) is None
    assert classify(psycopg.errors.UndefinedColumn("no such column")) is None
    assert isinstance(classify(psycopg.errors.AdminShutdown("bye")), ServerUnreachable)


def test_days_left_and_purge_on_the_server_keep_the_purge_entry(
    team: TeamDatabase, paths, clock: FakeClock
) -> None:
    with _open_admin(team, paths, clock) as admin:
        rid = admin.new_record(complete_answers(nhs_number(943476591)))
        admin.delete(rid, "Test record")
        clock.advance(days=30, seconds=1)
        assert admin.purge_expired() == [rid]
        with admin.engine.connect() as conn:
            actions = conn.scalars(text("SELECT action FROM audit ORDER BY id")).all()
        assert actions == ["purge"]


def test_a_server_refusing_a_start_up_write_still_lets_the_person_in(
    team: TeamDatabase, paths, clock
) -> None:
    # A DBA's grants narrower than flsdesk's own: entry may not write the fingerprint.
    team.add_login(f"{team.name}_e", Role.ENTRY)
    with _open_admin(team, paths, clock) as admin:
        rid = admin.new_record(complete_answers(nhs_number(943476591)))
        with admin.engine.begin() as conn:
            conn.execute(text("UPDATE meta SET value = 'old' WHERE key = :k"), {"k": FINGERPRINT})
    team.run(f'REVOKE INSERT, UPDATE ON meta FROM "{team.name}_entry"')
    with _open(team, f"{team.name}_e", paths, clock) as store:
        assert store.rederived is None and store.rederive_due()  # rolled back whole
        store.save(rid, {**store.load(rid).answers, "2.01": 166})
        assert store.load(rid).answers["2.01"] == 166
