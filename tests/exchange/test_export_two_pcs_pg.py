"""Two PCs exporting "since the last export" at once against one team database (two real
processes): no change is sent twice, none is skipped.

Each round the test changes some records, then lets both PCs prepare their export; both reports
are made before either file is written (the worker waits for the other's), so every round is the
race. The first to write wins; the other's write is refused (its report no longer matches the
outbox) and it prepares again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.exchange.team_helpers import open_team
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.export_records import CHECKED
from tests.helpers.pg_store import LOGIN_PASSWORD, make_team_database

WORKER = Path(__file__).with_name("two_pcs_worker.py")
ROUNDS = 3
RECORDS = 24


def _sent_rows(store: Store, seqs: set[int]) -> list[tuple[int, int, str]]:
    """(batch seq, record id, row hash) of the rows in these batches."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT batch_seq, record_id, row_hash FROM export_rows ORDER BY batch_seq, record_id"
        ).all()
    return [(s, r, h) for s, r, h in rows if s in seqs]


def _wait(path: Path, procs: list[subprocess.Popen[str]]) -> None:
    end = time.monotonic() + 180
    while not path.exists():
        for p in procs:
            if p.poll() not in (None, 0):
                raise AssertionError(f"a PC died: {p.communicate()[1][-2000:]}")
        assert time.monotonic() < end, f"no {path.name}"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_pcs_exporting_at_once_never_send_a_change_twice_nor_skip_one(
    pg_cluster, tmp_path: Path
) -> None:
    team = make_team_database(pg_cluster)
    # Three people, each signed in with their own account: the test's, and one per PC.
    here = team.add_login("fls_here", Role.ADMIN).display
    for pc in ("fls_pc_a", "fls_pc_b"):
        team.add_login(pc, Role.ADMIN)
    store = open_team(here, LOGIN_PASSWORD, tmp_path / "here")
    procs: list[subprocess.Popen[str]] = []
    try:
        ids = [
            store.new_record({**complete_answers(nhs_number(300000000 + i * 7919)), **CHECKED})
            for i in range(RECORDS)
        ]
        for name, peer in (("A", "B"), ("B", "A")):
            env = {
                **os.environ,
                "FLSDESK_STORE": team.address(f"fls_pc_{name.lower()}").display,
                "FLSDESK_DB_PASSWORD": LOGIN_PASSWORD,
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER), name, peer, str(tmp_path), str(ROUNDS)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        seen: set[int] = set()
        for k in range(1, ROUNDS + 1):
            if k == 1:
                changed = set(ids)  # never exported: every record goes
            else:
                changed = set(ids[k::3])
                for rid in changed:
                    loaded = store.load(rid)
                    store.save(rid, {**loaded.answers, "1.04": f"AB{k} {rid % 10}CD"})
            (tmp_path / f"go-{k}").touch()
            for name in ("A", "B"):
                _wait(tmp_path / f"done-{k}-{name}", procs)
            outcomes = {
                name: json.loads((tmp_path / f"done-{k}-{name}").read_text()) for name in "AB"
            }
            # Both prepared before either wrote: each saw every change of the round.
            assert all(o["going"] == len(changed) for o in outcomes.values()), outcomes

            sent = {b.seq for b in batches.list_batches(store) if b.is_sent} - seen
            rows = _sent_rows(store, sent)
            # Every change of the round went in exactly one sent file.
            sent_ids = [rid for _, rid, _ in rows]
            assert sorted(sent_ids) == sorted(changed), (outcomes, rows)
            seen |= sent
            # Exactly one of them got to write the report it made; the other was refused.
            assert sorted(o["superseded"] for o in outcomes.values()) == [False, True], outcomes
            # Nothing skipped: "since the last export" now finds nothing to send.
            assert ex.prepare(store, ex.Scope.since_last()).is_empty
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        store.close()
        team.drop()
