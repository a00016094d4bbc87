"""Opening a team store from an address, for the exchange's PostgreSQL tests and the second
process of the two-PCs test (tests/exchange/two_pcs_worker.py), as another PC opens it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flsdesk.paths import resolve
from flsdesk.store.store import Store
from tests.helpers.pg_store import TestAddress


def address_of(url: str) -> TestAddress:
    parts = urlsplit(url)
    return TestAddress(
        parts.hostname or "127.0.0.1",
        parts.port or 5432,
        parts.path.lstrip("/"),
        parts.username or "",
    )


def open_team(url: str, password: str, data_dir: Path) -> Store:
    return Store.open_team(address_of(url), password, paths=resolve(Path(data_dir)))
