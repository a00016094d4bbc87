"""A team database for the exchange's PostgreSQL tests, and the store opened on it by a second
process (tests/exchange/two_pcs_worker.py) as another PC would open it."""

from __future__ import annotations

from pathlib import Path

from bench.team_setup import create_team_database, open_team_store
from flsdesk.store.store import Store

__all__ = ["create_team_database", "open_team"]


def open_team(url: str, password: str, data_dir: Path) -> Store:
    return open_team_store(url, password, data_dir)
