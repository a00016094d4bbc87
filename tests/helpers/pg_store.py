"""Team databases for the tests: a fresh database in the session's PostgreSQL cluster with the
store's tables (``team_schema.create_schema``), the three group roles with their rights, and
login roles that are members of them.

The rights are granted by ``flsdesk team init``'s own code (``team.set_up_rights``), so every
suite that runs on the ``pg`` store runs under the grants a real service gets.

The tests' own person, ``TEST_USER`` ("TS (tester)"), is a login role of that very name, a
member of each test database's admin group: the audit trail then names the same person on both
engines, and the suites compare against one constant.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field

import psycopg
import sqlalchemy
from psycopg import sql

from flsdesk.store.pg import create_pg_engine
from flsdesk.store.roles import Role, group_role
from flsdesk.store.team import set_up_rights
from flsdesk.store.team_schema import create_schema
from tests.helpers.pg import PgCluster

# The tests' one password for every login role they make (never a real one).
LOGIN_PASSWORD = "test-only-" + secrets.token_hex(8)


@dataclass(frozen=True)
class TestAddress:
    """A store address on the test cluster (what flsdesk.store.address.StoreAddress gives)."""

    host: str
    port: int
    database: str
    user: str

    __test__ = False  # not a test class, whatever its name says

    @property
    def display(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def is_this_computer(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1", "")

    def sqlalchemy_url(self, password: str | None) -> sqlalchemy.URL:
        return sqlalchemy.URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=password,
            host=self.host,
            port=self.port,
            database=self.database,
        )


@dataclass
class TeamDatabase:
    cluster: PgCluster
    name: str
    logins: list[str] = field(default_factory=list)

    def address(self, user: str) -> TestAddress:
        return TestAddress("127.0.0.1", self.cluster.port, self.name, user)

    @property
    def admin_address(self) -> TestAddress:
        """The superuser's (the DBA's) address."""
        from tests.helpers.pg import SUPERUSER

        return self.address(SUPERUSER)

    def superuser_engine(self) -> sqlalchemy.Engine:
        return create_pg_engine(self.admin_address, self.cluster.password)

    def run(self, statement: str | sql.Composed, params: tuple[object, ...] = ()) -> None:
        """One statement as the superuser in this database (autocommit)."""
        with psycopg.connect(self.cluster.url(self.name), autocommit=True) as conn:
            conn.execute(statement, params)  # type: ignore[arg-type]

    def add_login(self, user: str, role: Role, password: str = LOGIN_PASSWORD) -> TestAddress:
        """A login role (made if missing, cluster-wide) in ``role``'s group of this database."""
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(user), sql.Literal(password)
                    )
                )
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(group_role(self.name, role)), sql.Identifier(user)
                )
            )
        self.logins.append(user)
        return self.address(user)

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        for role in Role:
            with contextlib.suppress(Exception):
                self.cluster.sql(f'DROP ROLE IF EXISTS "{group_role(self.name, role)}"')


def make_team_database(
    cluster: PgCluster, *, service_name: str = "Test FLS", org_code: str | None = "RXX"
) -> TeamDatabase:
    """A new database with the store's tables and the three group roles holding their rights."""
    team = TeamDatabase(cluster, cluster.create_database())
    engine = team.superuser_engine()
    try:
        create_schema(engine, service_name=service_name, org_code=org_code)
        with engine.begin() as conn:
            set_up_rights(conn, team.name)  # exactly what `flsdesk team init` grants
    finally:
        engine.dispose()
    return team
