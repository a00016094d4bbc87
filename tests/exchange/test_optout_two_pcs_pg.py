"""Two PCs applying the information-governance team's opt-out answer at once against one team
database (two real processes): the opt-out work runs one PC at a time. The second waits on the
team's opt-out lock (seen in the server's lock table, not timed) while the first marks; then it
finds the list read back and every record marked, and marks nothing again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flsdesk.exchange import optout
from flsdesk.exchange.sql import OPTOUT_LOCK
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.exchange.team_helpers import open_team
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.pg_store import LOGIN_PASSWORD, make_team_database

WORKER = Path(__file__).with_name("optout_pc_worker.py")
RECORDS = 12
OPTED_OUT = 4


def _waiting_for_optout_lock(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND objid = %(kind)s AND objsubid = 2",
                {"kind": OPTOUT_LOCK},
            ).scalar()
            or 0
        )


def _wait(what, procs: list[subprocess.Popen[str]]) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + 120
    while not what():
        for p in procs:
            if p.poll() not in (None, 0):
                raise AssertionError(f"a PC died: {p.communicate()[1][-2000:]}")
        assert time.monotonic() < end, "gave up waiting"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_pcs_applying_the_answer_at_once_mark_each_record_once(
    pg_cluster, tmp_path: Path
) -> None:
    team = make_team_database(pg_cluster)
    here = team.add_login("fls_here", Role.ADMIN).display
    for pc in ("fls_pc_a", "fls_pc_b"):
        team.add_login(pc, Role.ADMIN)
    store = open_team(here, LOGIN_PASSWORD, tmp_path / "here")
    procs: list[subprocess.Popen[str]] = []
    try:
        numbers = [nhs_number(600000000 + 7919 * i) for i in range(RECORDS)]
        ids = [store.new_record(complete_answers(n)) for n in numbers]  # none checked yet
        optout.write_unchecked_list(store, tmp_path / "for-ig.csv")
        result = tmp_path / "from-ig.csv"
        result.write_text("NHS number\n" + "".join(f"{n}\n" for n in numbers[:OPTED_OUT]))

        def start(name: str, mode: str) -> None:
            env = {
                **os.environ,
                "FLSDESK_STORE": team.address(f"fls_pc_{name.lower()}").display,
                "FLSDESK_DB_PASSWORD": LOGIN_PASSWORD,
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER), name, str(tmp_path), str(result), mode],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

        start("A", "pause")
        _wait((tmp_path / "paused-A").exists, procs)  # A holds the lock, one record marked
        start("B", "run")
        _wait((tmp_path / "started-B").exists, procs)
        _wait(lambda: _waiting_for_optout_lock(store) == 1, procs)  # B waits for A's turn
        assert not (tmp_path / "done-B").exists()
        (tmp_path / "release").touch()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]

        a = json.loads((tmp_path / "done-A").read_text())
        b = json.loads((tmp_path / "done-B").read_text())
        assert a == {"opted_out": OPTED_OUT, "not_opted_out": RECORDS - OPTED_OUT}
        assert b == {"opted_out": 0, "not_opted_out": 0}  # nothing left to mark
        fields = optout.OptoutFields.of(store.definitions.latest)
        for i, rid in enumerate(ids):
            answers = store.load(rid).answers
            expected = fields.opted_out if i < OPTED_OUT else fields.not_opted_out
            assert answers[fields.status] == expected
            marks = [
                e
                for e in store.audit_trail(rid)
                if e.question == fields.status and e.reason == optout.CHECK_REASON
            ]
            assert len(marks) == 1, marks  # marked once, by one PC
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        store.close()
        team.drop()
