"""Fixtures for the records tests: a real store on each engine, a settable clock.

``store`` is parametrised: ``sqlite`` is a real SQLCipher store in a temporary folder, ``pg`` a
team database (a fresh database in the session's throw-away PostgreSQL cluster, its tables made
by ``create_schema``, opened by ``Store.open_team`` as ``TEST_USER``, a login role in the admin
group). Every test that uses ``store`` runs on both.

Import the fixtures into a test module
(``from tests.helpers.conftest_records import store_fixture``); they are registered under their
short names (``store``, ``paths``, ``clock``). ``team_db`` is the ``pg`` store's database (None
for ``sqlite``), for tests that sign in a second person.
``tests/conftest.py`` belongs to others.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from flsdesk.paths import AppPaths, resolve
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.helpers.pg_store import LOGIN_PASSWORD, TeamDatabase, make_team_database

# Test-only key: never a real store's. 32 bytes, as keys.py hands the engine.
TEST_KEY = bytes(range(32))
TEST_USER = "TS (tester)"
TODAY = date(2025, 6, 2)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(TODAY.year, TODAY.month, TODAY.day, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **kwargs: float) -> None:
        self.moment += timedelta(**kwargs)


def nhs_number(body: int) -> str:
    """A valid NHS number (Modulus 11) from a 9-digit body; skips bodies with check 10."""
    while True:
        digits = f"{body:09d}"
        total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10 and len(set(digits + str(check))) > 1:
            return digits + str(check)
        body += 1


def complete_answers(nhs: str, diagnosed: date = date(2024, 1, 10), **extra: Any) -> dict[str, Any]:
    """A plausible record, lite-complete as of TODAY (its follow-ups answered)."""
    answers: dict[str, Any] = {
        "1.01": nhs,
        "1.02": "1950-03-04",
        "1.03": "Female",
        "1.05": "No",
        "1.06": (diagnosed + timedelta(days=5)).isoformat(),
        "1.07": (diagnosed + timedelta(days=20)).isoformat(),
        "1.08": "No",
        "1.09": diagnosed.isoformat(),
        "1.11": "Wrist",
        "3.01": "Not ordered",
        "4.01": ["Alendronate"],
        "5.01": "Not assessed",
        "6.01": "No",
        "7.01": "No",
        "name": "Test Patient",
        "hospital_number": "H123456",
    }
    answers.update(extra)
    return answers


@pytest.fixture(name="paths")
def paths_fixture(tmp_path) -> AppPaths:
    return resolve(tmp_path / "data")


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


ENGINES = ["sqlite", "postgresql"]
ENGINE_IDS = ["sqlite", "pg"]


# The team database behind each open ``pg`` store (by the store's id), for ``team_db``.
_TEAMS: dict[int, TeamDatabase] = {}


@pytest.fixture(name="store", params=ENGINES, ids=ENGINE_IDS)
def store_fixture(
    request: pytest.FixtureRequest, paths: AppPaths, clock: FakeClock
) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", "RXX", clock=clock)
        yield s
        s.close()
        return
    team = make_team_database(request.getfixturevalue("pg_cluster"))
    try:
        address = team.add_login(TEST_USER, Role.ADMIN)
        s = Store.open_team(address, LOGIN_PASSWORD, paths=paths, clock=clock)
        _TEAMS[id(s)] = team
        try:
            yield s
        finally:
            _TEAMS.pop(id(s), None)
            s.close()
    finally:
        team.drop()


@pytest.fixture(name="team_db")
def team_db_fixture(store: Store) -> TeamDatabase | None:
    """The ``pg`` store's team database (to sign in a second person); None for ``sqlite``."""
    return _TEAMS.get(id(store))
