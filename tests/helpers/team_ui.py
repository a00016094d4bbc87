"""A team database for the window's tests: the real schema, rights and people on the session's
throw-away PostgreSQL cluster (tests/helpers/pg.py), set up as ``flsdesk team init`` and
``team add-user`` do it, with one person per role.

Login roles are the cluster's, not the database's, so each person's name starts with the test
database's own (unique) name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy

from flsdesk.paths import AppPaths
from flsdesk.store import team, team_schema
from flsdesk.store.address import StoreAddress
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.helpers.pg import PgDatabase

PASSWORD = "a long test password for the team"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TeamDb:
    database: PgDatabase
    users: dict[Role, str]
    opened: list[Store] = field(default_factory=list)

    def address_text(self, role: Role) -> str:
        """The address a person types: their user name, no password."""
        return self.database.url(self.users[role], None)

    def address(self, role: Role) -> StoreAddress:
        return StoreAddress.parse(self.address_text(role))

    def open(self, role: Role, paths: AppPaths) -> Store:
        """Sign in as the person with ``role`` (as another PC would: its own Store)."""
        store = Store.open_team(self.address(role), PASSWORD, paths=paths)
        self.opened.append(store)
        return store

    def run_elsewhere(self, role: Role, paths: AppPaths, code: str) -> str:
        """Run ``code`` in another process signed in as ``role`` (``store`` is open there):
        another PC of the team. Returns what it printed."""
        script = textwrap.dedent(
            """
            import sys
            from flsdesk.paths import resolve
            from flsdesk.store.address import StoreAddress
            from flsdesk.store.store import Store
            store = Store.open_team(StoreAddress.parse(sys.argv[1]), sys.argv[2], paths=resolve())
            try:
            {body}
            finally:
                store.close()
            """
        ).format(body=textwrap.indent(textwrap.dedent(code), "    "))
        env = dict(os.environ, FLSDESK_DATA_DIR=str(paths.data_dir))
        env["FLSDESK_CONFIG_DIR"] = str(paths.config_dir)
        result = subprocess.run(
            [sys.executable, "-c", script, self.address_text(role), PASSWORD],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def close(self) -> None:
        for store in self.opened:
            store.close()


def set_up(database: PgDatabase) -> TeamDb:
    url = database.admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sqlalchemy.create_engine(url)
    try:
        users = {role: f"u_{role.value}_{database.name}" for role in Role}
        team.init_team(
            engine,
            users[Role.ADMIN],
            PASSWORD,
            create_schema=team_schema.create_schema,
        )
        for role in (Role.ENTRY, Role.REVIEW):
            team.add_user(engine, users[role], role, PASSWORD)
    finally:
        engine.dispose()
    return TeamDb(database, users)


@pytest.fixture(name="team_db")
def team_db_fixture(pg_database: PgDatabase) -> Iterator[TeamDb]:
    db = set_up(pg_database)
    yield db
    db.close()
