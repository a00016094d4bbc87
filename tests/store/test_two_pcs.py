"""Two PCs on one team database: two real processes, each with its own Store and its own
database account. A stale save merges what does not clash and returns the clash with who changed
it and when; saves racing on one record lose nothing; two calls logged at once are both kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.pg import PgCluster
from tests.helpers.pg_store import LOGIN_PASSWORD, TeamDatabase, make_team_database

ROOT = Path(__file__).resolve().parents[2]


class Pc:
    """One worker process (tests/store/pg_worker.py) signed in as ``user``."""

    def __init__(self, team: TeamDatabase, user: str, folder: Path) -> None:
        env = {**os.environ, "FLSDESK_DB_PASSWORD": LOGIN_PASSWORD}
        address = team.address(user)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.pg_worker",
                address.host,
                str(address.port),
                address.database,
                user,
                str(folder),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.user = self._read()["ready"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the worker ended (exit {self.proc.wait()})"
        return json.loads(line)

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def ask(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.answer()

    def answer(self) -> dict[str, Any]:
        found = self._read()
        assert "error" not in found, found
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send(op="quit")
            self.proc.wait(timeout=60)


@pytest.fixture
def team(pg_cluster: PgCluster) -> Iterator[TeamDatabase]:
    db = make_team_database(pg_cluster)
    yield db
    db.drop()


@pytest.fixture
def two_pcs(team: TeamDatabase, tmp_path: Path) -> Iterator[tuple[Pc, Pc]]:
    team.add_login(f"{team.name}_nurse_a", Role.ENTRY)
    team.add_login(f"{team.name}_nurse_b", Role.ENTRY)
    a = Pc(team, f"{team.name}_nurse_a", tmp_path / "pc-a")
    b = Pc(team, f"{team.name}_nurse_b", tmp_path / "pc-b")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _admin(team: TeamDatabase, tmp_path: Path) -> Store:
    from flsdesk.paths import resolve

    address = team.add_login(f"{team.name}_coordinator", Role.ADMIN)
    return Store.open_team(address, LOGIN_PASSWORD, paths=resolve(tmp_path / "pc-admin"))


def _record(team: TeamDatabase, tmp_path: Path) -> int:
    with _admin(team, tmp_path) as admin:
        return admin.new_record(complete_answers(nhs_number(943476591), **{"6.01": None}))


@pytest.mark.slow
def test_a_stale_save_merges_and_returns_the_clash_with_who_and_when(
    team: TeamDatabase, two_pcs: tuple[Pc, Pc], tmp_path: Path
) -> None:
    a, b = two_pcs
    rid = _record(team, tmp_path)
    seen_a = a.ask(op="load", id=rid)
    seen_b = b.ask(op="load", id=rid)
    assert seen_a["version"] == seen_b["version"] == 1
    # A records the height and changes the DXA answer; B (still on version 1) records the
    # weight and changes the DXA answer otherwise.
    saved_a = a.ask(
        op="save",
        id=rid,
        answers={**seen_a["answers"], "2.01": 171, "3.01": "Ordered or recommended"},
        base_version=1,
        base_answers=seen_a["answers"],
    )
    assert saved_a["version"] == 2 and not saved_a["conflicts"]
    saved_b = b.ask(
        op="save",
        id=rid,
        answers={**seen_b["answers"], "2.02": 64, "3.01": "Already had a recent DXA"},
        base_version=1,
        base_answers=seen_b["answers"],
    )
    assert saved_b["version"] == 3
    assert saved_b["answers"]["2.01"] == 171  # A's, merged in
    assert saved_b["answers"]["2.02"] == 64  # B's own
    # The clash keeps A's answer until B decides.
    assert saved_b["answers"]["3.01"] == "Ordered or recommended"
    (clash,) = saved_b["conflicts"]
    assert (clash["question"], clash["mine"], clash["theirs"]) == (
        "3.01",
        "Already had a recent DXA",
        "Ordered or recommended",
    )
    assert clash["changed_by"] == a.user
    assert clash["changed_at"] is not None
    # B takes its own answer for the clash, saving on the version it was given.
    final = b.ask(
        op="save",
        id=rid,
        answers={**saved_b["answers"], "3.01": "Already had a recent DXA"},
        base_version=saved_b["version"],
        base_answers=saved_b["answers"],
    )
    assert final["version"] == 4 and not final["conflicts"]
    with _admin(team, tmp_path) as admin:
        record = admin.load(rid)
        assert (record.answers["2.01"], record.answers["2.02"], record.answers["3.01"]) == (
            171,
            64,
            "Already had a recent DXA",
        )
        who = {(e.question, e.user) for e in admin.audit_trail(rid) if e.action == "update"}
    assert who == {("2.01", a.user), ("3.01", a.user), ("2.02", b.user), ("3.01", b.user)}


@pytest.mark.slow
def test_saves_racing_on_one_record_lose_nothing(
    team: TeamDatabase, two_pcs: tuple[Pc, Pc], tmp_path: Path
) -> None:
    a, b = two_pcs
    rid = _record(team, tmp_path)
    heights = list(range(150, 170))
    weights = list(range(50, 70))
    # Both start at once; each save reads the record afresh, so whichever loses a race merges.
    a.send(op="race", id=rid, key="2.01", values=heights)
    b.send(op="race", id=rid, key="2.02", values=weights)
    versions = a.answer()["versions"] + b.answer()["versions"]
    assert len(set(versions)) == len(versions) == 40  # every save got its own version
    with _admin(team, tmp_path) as admin:
        record = admin.load(rid)
        trail = admin.audit_trail(rid)
    assert record.version == 41
    assert (record.answers["2.01"], record.answers["2.02"]) == (heights[-1], weights[-1])
    assert [e.new_value for e in trail if e.question == "2.01"] == heights
    assert [e.new_value for e in trail if e.question == "2.02"] == weights


@pytest.mark.slow
def test_two_calls_logged_at_once_are_both_kept(
    team: TeamDatabase, two_pcs: tuple[Pc, Pc], tmp_path: Path
) -> None:
    a, b = two_pcs
    rid = _record(team, tmp_path)
    today = date.today().isoformat()
    a.send(op="call", id=rid, on=today)
    b.send(op="call", id=rid, on=today)
    ids = {a.answer()["id"], b.answer()["id"]}
    assert len(ids) == 2
    with _admin(team, tmp_path) as admin:
        from flsdesk import followups as fu

        attempts = fu.call_attempts(admin.engine, rid)
    assert {x.id for x in attempts} == ids
    assert {x.who for x in attempts} == {a.user, b.user}
