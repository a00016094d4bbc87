"""A team database for the benchmark: the tests' throw-away PostgreSQL cluster (Debian's real
server, in a temp folder, on a free port), one database with the store's schema and the three
group roles, and the store opened on it as a client PC opens it (``Store.open_team``).

The benchmark signs in as the cluster's superuser, which PostgreSQL makes a member of every
role (the store then counts it as an admin): the rights themselves are the team tests' business,
and grants cost nothing per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy

from flsdesk.dataset import DefinitionSet
from flsdesk.paths import resolve
from flsdesk.store.roles import Role, group_role
from flsdesk.store.store import Store


@dataclass(frozen=True)
class BenchAddress:
    """The store address of the benchmark's own server on this computer (the shape
    ``Store.open_team`` needs; ``flsdesk.store.address.StoreAddress`` in the application)."""

    host: str
    port: int
    database: str
    user: str

    @classmethod
    def parse(cls, url: str) -> BenchAddress:
        parts = urlsplit(url)
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 5432,
            parts.path.lstrip("/"),
            parts.username or "",
        )

    @property
    def display(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def is_this_computer(self) -> bool:
        return self.host in ("localhost", "127.0.0.1", "::1", "")

    def sqlalchemy_url(self, password: str | None) -> sqlalchemy.URL:
        return sqlalchemy.URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=password,
            host=self.host,
            port=self.port,
            database=self.database,
        )


def _address(url: str) -> object:
    try:  # the application's own parser, where the team branch provides it
        from flsdesk.store.address import StoreAddress

        return StoreAddress.parse(url)
    except ImportError:
        return BenchAddress.parse(url)


def create_team_database(cluster: object) -> str:
    """A fresh database on the cluster with the store's schema and the three group roles;
    returns its address without the password (the password is the cluster's)."""
    from flsdesk.store.team_schema import create_schema

    name = cluster.create_database()  # type: ignore[attr-defined]
    for role in Role:
        cluster.sql(f'CREATE ROLE "{group_role(name, role)}" NOLOGIN')  # type: ignore[attr-defined]
    url = cluster.url(name)  # type: ignore[attr-defined]
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        create_schema(engine, service_name="Bench FLS")
    finally:
        engine.dispose()
    return url


def open_team_store(
    url: str,
    password: str,
    data_dir: str | Path,
    definitions: DefinitionSet | None = None,
) -> Store:
    parts = urlsplit(url)
    bare = url.replace(f":{parts.password}@", "@") if parts.password else url
    return Store.open_team(
        _address(bare),  # type: ignore[arg-type]
        password,
        paths=resolve(Path(data_dir)),
        definitions=definitions,
    )
