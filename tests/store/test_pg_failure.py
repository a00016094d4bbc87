"""The team database going away mid-session: a connection cut in the middle of a save, the
server stopped and started again, the server restarted. Each save either happened whole or not at
all (ServerUnreachable), and the next one after the server is back succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event

from flsdesk.paths import resolve
from flsdesk.store.errors import ServerUnreachable
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.pg import PgCluster
from tests.helpers.pg_store import LOGIN_PASSWORD, TeamDatabase, make_team_database


@pytest.fixture
def team(pg_cluster: PgCluster) -> Iterator[TeamDatabase]:
    db = make_team_database(pg_cluster)
    yield db
    db.drop()


@pytest.fixture
def store(team: TeamDatabase, tmp_path: Path) -> Iterator[Store]:
    address = team.add_login(f"{team.name}_nurse", Role.ENTRY)
    s = Store.open_team(address, LOGIN_PASSWORD, paths=resolve(tmp_path / "pc"))
    yield s
    s.close()


def _whole(store: Store, rid: int) -> tuple[int, int]:
    """The record's version and its number of audit entries: one more entry per changed
    question, one more version per save; a half-saved record breaks the pairing."""
    return store.load(rid).version, len(store.audit_trail(rid))


def test_a_connection_cut_in_the_middle_of_a_save_saves_nothing(
    store: Store, team: TeamDatabase
) -> None:
    rid = store.new_record(complete_answers(nhs_number(943476591)))
    before = store.load(rid)

    def cut(conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        # The record's row is already updated in this transaction; its audit entry is next.
        if statement.startswith("INSERT INTO audit"):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(team.cluster.url(team.name), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    event.listen(store.engine, "before_cursor_execute", cut)
    try:
        with pytest.raises(ServerUnreachable, match="cannot be reached"):
            store.save(rid, {**before.answers, "2.01": 180}, base_version=before.version)
    finally:
        event.remove(store.engine, "before_cursor_execute", cut)
    after = store.load(rid)
    assert after.answers == before.answers and after.version == before.version
    assert _whole(store, rid) == (1, 1)
    # The same save again, as the form retries it: now it goes through, once.
    store.save(rid, {**before.answers, "2.01": 180}, base_version=before.version)
    assert store.load(rid).answers["2.01"] == 180
    assert _whole(store, rid) == (2, 2)


@pytest.mark.slow
def test_a_save_while_the_server_is_down_is_refused_and_the_next_one_after_it_is_back_works(
    store: Store, team: TeamDatabase
) -> None:
    rid = store.new_record(complete_answers(nhs_number(943476591)))
    before = store.load(rid)
    team.cluster.stop()
    try:
        with pytest.raises(ServerUnreachable, match="cannot be reached"):
            store.save(rid, {**before.answers, "2.01": 181}, base_version=before.version)
        with pytest.raises(ServerUnreachable):
            store.change_token()  # the window's poll says so too, rather than crash
    finally:
        team.cluster.pg_ctl_start()
    assert store.load(rid).version == 1
    store.save(rid, {**before.answers, "2.01": 181}, base_version=before.version)
    assert _whole(store, rid) == (2, 2)


@pytest.mark.slow
def test_after_a_server_restart_the_next_save_reconnects(store: Store, team: TeamDatabase) -> None:
    rid = store.new_record(complete_answers(nhs_number(943476591)))
    before = store.load(rid)
    team.cluster.restart()
    # Every pooled connection was cut: the pool sees it at checkout and connects afresh.
    store.save(rid, {**before.answers, "2.01": 182}, base_version=before.version)
    assert store.load(rid).answers["2.01"] == 182
    assert _whole(store, rid) == (2, 2)
