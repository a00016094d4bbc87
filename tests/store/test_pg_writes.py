"""Writes on a team database are serialised across PCs by the store's advisory lock (the
server's version of SQLite's BEGIN IMMEDIATE), a write kept waiting too long gives up cleanly,
ids copied in keep the sequences right, and the integrity checks defer to the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import insert, text

from flsdesk.paths import resolve
from flsdesk.store import pg, team_schema
from flsdesk.store.errors import StoreBusy
from flsdesk.store.migrations import PG_WRITE_LOCK
from flsdesk.store.models import Record
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


def _pc(team: TeamDatabase, user: str, folder: Path, role: Role = Role.ADMIN) -> Store:
    address = team.add_login(f"{team.name}_{user}", role)
    return Store.open_team(address, LOGIN_PASSWORD, paths=resolve(folder))


def _waiting_for_the_write_lock(team: TeamDatabase) -> bool:
    with psycopg.connect(team.cluster.url(team.name), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = %s",
            (PG_WRITE_LOCK,),
        ).fetchone()
    return bool(row and row[0])


def test_a_write_waits_for_another_pcs_write_transaction(team: TeamDatabase, tmp_path) -> None:
    first = _pc(team, "a", tmp_path / "a")
    second = _pc(team, "b", tmp_path / "b")
    try:
        rid = first.new_record(complete_answers(nhs_number(943476591)))
        version = first.load(rid).version
        order: list[str] = []
        release = threading.Event()
        inside = threading.Event()

        def hold() -> None:
            with first.write_transaction() as conn:
                inside.set()
                release.wait()
                conn.execute(text("SELECT 1"))
                order.append("first committed")

        holder = threading.Thread(target=hold)
        holder.start()
        inside.wait()
        saver = threading.Thread(
            target=lambda: (
                second.save(rid, {**second.load(rid).answers, "2.01": 160}, base_version=version),
                order.append("second saved"),
            )
        )
        saver.start()
        while not _waiting_for_the_write_lock(team):  # the second PC is queued on the lock
            assert saver.is_alive()
        assert order == []
        release.set()
        holder.join()
        saver.join()
        assert order == ["first committed", "second saved"]
        assert first.load(rid).answers["2.01"] == 160
    finally:
        first.close()
        second.close()


def test_a_write_kept_waiting_too_long_gives_up_with_nothing_changed(
    team: TeamDatabase, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _pc(team, "a", tmp_path / "a")
    monkeypatch.setattr(pg, "LOCK_TIMEOUT_MS", 300)  # this PC gives up sooner
    second = _pc(team, "b", tmp_path / "b")
    try:
        rid = first.new_record(complete_answers(nhs_number(943476591)))
        answers = {**second.load(rid).answers, "2.01": 161}
        with (
            first.write_transaction(),
            pytest.raises(StoreBusy, match="Another computer is writing"),
        ):
            second.save(rid, answers)
        assert second.load(rid).version == 1
        second.save(rid, {**second.load(rid).answers, "2.01": 161})  # and then it can
        assert second.load(rid).version == 2
    finally:
        first.close()
        second.close()


def test_rows_copied_in_with_their_ids_leave_the_sequences_past_them(
    team: TeamDatabase, tmp_path
) -> None:
    # As 'team migrate-from-local' does: rows inserted with the ids they had locally.
    with _pc(team, "a", tmp_path / "a") as store:
        rid = store.new_record(complete_answers(nhs_number(943476591)))
        with store.engine.connect() as conn:
            query = Record.__table__.select().where(Record.id == rid)
            row = dict(conn.execute(query).one()._mapping)
        with store.engine.begin() as conn:
            conn.execute(insert(Record), [{**row, "id": 500, "uuid": "u-500"}])
            team_schema.set_sequences(conn)
        new = store.new_record(complete_answers(nhs_number(401023456)))
        assert new == 501
        bulk = store.bulk_insert([complete_answers(nhs_number(512034567))])
        assert bulk == [502]


def test_integrity_checks_defer_to_the_server(team: TeamDatabase, tmp_path) -> None:
    with _pc(team, "a", tmp_path / "a") as store:
        for result in (store.quick_check(), store.full_check()):
            assert result.ok and result.note and "server" in result.note
        assert not store.full_check_due()
