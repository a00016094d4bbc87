"""Schema steps on a team database: a later step runs in its own transaction with its number,
a failing one leaves the previous schema, and one without a PostgreSQL form is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy import Connection, text

from flsdesk.store.errors import StoreError
from flsdesk.store.migrations import CURRENT_SCHEMA, PG_VERSION_KEY, STEPS, Step, migrate
from tests.helpers.pg import PgCluster
from tests.helpers.pg_store import TeamDatabase, make_team_database


@pytest.fixture
def team(pg_cluster: PgCluster) -> Iterator[TeamDatabase]:
    db = make_team_database(pg_cluster)
    yield db
    db.drop()


def _version(team: TeamDatabase) -> int:
    engine = team.superuser_engine()
    try:
        with engine.connect() as conn:
            value = conn.scalar(
                text("SELECT value FROM meta WHERE key = :k"), {"k": PG_VERSION_KEY}
            )
        return int(value)
    finally:
        engine.dispose()


def _columns(team: TeamDatabase) -> list[str]:
    engine = team.superuser_engine()
    try:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'records' ORDER BY ordinal_position"
                    )
                )
            )
    finally:
        engine.dispose()


def _sqlite_only(_conn: object) -> None:
    raise AssertionError("the SQLite form must not run on a team database")


def _add_column(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE records ADD COLUMN test_extra INTEGER"))


def test_a_later_step_runs_on_the_server_and_is_recorded(team: TeamDatabase) -> None:
    engine = team.superuser_engine()
    step = Step(CURRENT_SCHEMA + 1, "test-only column", _sqlite_only, run_pg=_add_column)
    try:
        assert migrate(engine, steps=(*STEPS, step)) == CURRENT_SCHEMA
        assert migrate(engine, steps=(*STEPS, step)) == CURRENT_SCHEMA + 1  # nothing left to do
    finally:
        engine.dispose()
    assert _version(team) == CURRENT_SCHEMA + 1
    assert _columns(team)[-1] == "test_extra"


def test_a_failing_step_leaves_the_previous_schema(team: TeamDatabase) -> None:
    def broken(conn: Connection) -> None:
        _add_column(conn)
        conn.execute(text("SELECT no_such_column FROM records"))

    engine = team.superuser_engine()
    try:
        with pytest.raises(sqlalchemy.exc.ProgrammingError, match="no_such_column"):
            migrate(
                engine, steps=(*STEPS, Step(CURRENT_SCHEMA + 1, "broken", _sqlite_only, broken))
            )
    finally:
        engine.dispose()
    assert _version(team) == CURRENT_SCHEMA
    assert "test_extra" not in _columns(team)


def test_a_step_without_a_postgresql_form_is_refused(team: TeamDatabase) -> None:
    engine = team.superuser_engine()
    try:
        with pytest.raises(StoreError, match="no PostgreSQL form"):
            migrate(engine, steps=(*STEPS, Step(CURRENT_SCHEMA + 1, "sqlite only", _sqlite_only)))
    finally:
        engine.dispose()
    assert _version(team) == CURRENT_SCHEMA
