"""A team database set up as ``flsdesk team init`` does (tables, the groups' rights, an admin), with
one entry and one review user, in a fresh database of the session's PostgreSQL cluster.

Login roles belong to the whole cluster, so every name carries the database's own suffix: two
tests never share a person.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from flsdesk.store import team, team_schema
from flsdesk.store.address import StoreAddress
from flsdesk.store.pg import create_pg_engine
from flsdesk.store.roles import Role
from tests.helpers.pg import PgDatabase

ADMIN_PASSWORD = "admin-Pa55word-xyz"
ENTRY_PASSWORD = "entry-Pa55word-xyz"
REVIEW_PASSWORD = "review-Pa55word-xyz"


@dataclass
class TeamDb:
    db: PgDatabase
    admin: str
    entry: str
    review: str

    @property
    def name(self) -> str:
        return self.db.name

    def address(self, user: str) -> str:
        """The address a person types: no password in it."""
        return f"postgresql://{user}@127.0.0.1:{self.db.cluster.port}/{self.db.name}"

    def password(self, user: str) -> str:
        return {
            self.admin: ADMIN_PASSWORD,
            self.entry: ENTRY_PASSWORD,
            self.review: REVIEW_PASSWORD,
        }[user]

    def url(self, user: str) -> str:
        """A libpq address with the password (for the tests' own raw connections)."""
        return self.db.url(user, self.password(user))

    def superuser_engine(self):
        return _superuser_engine(self.db)


def _superuser_engine(db: PgDatabase):
    where = StoreAddress.parse(db.admin_url)
    return create_pg_engine(where, where.password)


def set_up(db: PgDatabase) -> TeamDb:
    suffix = db.name.removeprefix("fls_")
    t = TeamDb(db, f"adm_{suffix}", f"ent_{suffix}", f"rev_{suffix}")
    engine = _superuser_engine(db)
    try:
        team.init_team(
            engine,
            t.admin,
            ADMIN_PASSWORD,
            create_schema=lambda e: team_schema.create_schema(e, service_name="Team FLS"),
        )
    finally:
        engine.dispose()
    admin = create_pg_engine(StoreAddress.parse(t.address(t.admin)), ADMIN_PASSWORD)
    try:
        team.add_user(admin, t.entry, Role.ENTRY, ENTRY_PASSWORD)
        team.add_user(admin, t.review, Role.REVIEW, REVIEW_PASSWORD)
    finally:
        admin.dispose()
    return t


@pytest.fixture(name="team_db")
def team_db_fixture(pg_database: PgDatabase) -> Iterator[TeamDb]:
    t = set_up(pg_database)
    yield t
    # The database goes with pg_database; its people are the cluster's and go here.
    for user in (t.entry, t.review, t.admin):
        # Still connected somewhere: the throw-away cluster goes at the end anyway.
        with contextlib.suppress(Exception):
            pg_database.cluster.sql(f'DROP ROLE IF EXISTS "{user}"')
