"""A team database for the benchmark: the tests' throw-away PostgreSQL cluster (Debian's real
server, in a temp folder, on a free port), one database with the store's schema, the three group
roles and their rights (tests/helpers/pg_store.py), and the store opened on it as a client PC
opens it (``Store.open_team``).

The benchmark's own set-up and measurements sign in as the cluster's superuser (the DBA, whom
the store counts as an admin); the concurrency run's clients sign in as entry-role nurses.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flsdesk.dataset import DefinitionSet
from flsdesk.paths import resolve
from flsdesk.store.store import Store
from tests.helpers.pg_store import TeamDatabase, TestAddress, make_team_database


def _address(url: str) -> object:
    try:  # the application's own parser, where the team branch provides it
        from flsdesk.store.address import StoreAddress

        return StoreAddress.parse(url)
    except ImportError:
        parts = urlsplit(url)
        return TestAddress(
            parts.hostname or "127.0.0.1",
            parts.port or 5432,
            parts.path.lstrip("/"),
            parts.username or "",
        )


def create_team_database(cluster: object) -> TeamDatabase:
    return make_team_database(cluster, service_name="Bench FLS")  # type: ignore[arg-type]


def open_team_store(
    url: str,
    password: str,
    data_dir: str | Path,
    definitions: DefinitionSet | None = None,
) -> Store:
    """``url`` without a password (the address as shown); the password apart."""
    return Store.open_team(
        _address(url),  # type: ignore[arg-type]
        password,
        paths=resolve(Path(data_dir)),
        definitions=definitions,
    )
