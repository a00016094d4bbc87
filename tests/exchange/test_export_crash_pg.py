"""A PC killed in the middle of an export on a team database: a real process is SIGKILLed after
its batch is recorded as "writing" and before its file is renamed into place, while it holds
the team's export lock. The lock goes with its connection (another PC can export at once), the
dead export's batch is settled (dropped: its file never arrived), and every row goes again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.exchange.sql import EXPORT_LOCK, exchange_try_lock
from flsdesk.store.roles import Role
from tests.exchange.team_helpers import open_team
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.export_records import CHECKED
from tests.helpers.pg_store import LOGIN_PASSWORD, make_team_database

REPO = Path(__file__).resolve().parents[2]
RECORDS = 300

CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, os.environ["REPO"])
    from flsdesk import files
    from flsdesk.exchange import export as ex
    from tests.exchange.team_helpers import open_team

    def hang_before_rename(src, dst):
        # The batch is committed as "writing"; the file is still the temporary one.
        open(os.environ["MARKER"], "w").close()
        time.sleep(120)

    files.os.replace = hang_before_rename
    store = open_team(os.environ["FLSDESK_STORE"], os.environ["FLSDESK_DB_PASSWORD"], sys.argv[1])
    ex.export(store, ex.Scope.all(), sys.argv[2])
    print("finished", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_pc_killed_mid_export_blocks_nobody_and_its_batch_is_settled(
    pg_cluster, tmp_path: Path
) -> None:
    team = make_team_database(pg_cluster)
    here = team.add_login("fls_here", Role.ADMIN).display
    there = team.add_login("fls_there", Role.ADMIN).display
    store = open_team(here, LOGIN_PASSWORD, tmp_path / "here")
    child = None
    try:
        store.bulk_insert(
            [
                {**complete_answers(nhs_number(500000000 + 7919 * i)), **CHECKED}
                for i in range(RECORDS)
            ]
        )
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        target = out_dir / "export.csv"
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        marker = tmp_path / "marker"
        env = {
            **os.environ,
            "REPO": str(REPO),
            "MARKER": str(marker),
            "FLSDESK_STORE": there,
            "FLSDESK_DB_PASSWORD": LOGIN_PASSWORD,
        }
        child = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "there"), str(target)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the child never reached the rename"
            time.sleep(0.05)
        # While it lives, its export holds the lock and its batch is left alone.
        with exchange_try_lock(store.engine, EXPORT_LOCK) as free:
            assert not free
        assert batches.recover_interrupted(store) == []
        with store.engine.connect() as conn:
            states = conn.exec_driver_sql("SELECT state FROM export_batches").scalars().all()
        assert states == [batches.WRITING]

        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
        assert not target.exists()

        # The server ends the dead PC's session, and its lock with it.
        deadline = time.monotonic() + 60
        while True:
            with exchange_try_lock(store.engine, EXPORT_LOCK) as free:
                if free:
                    break
            assert time.monotonic() < deadline, "the dead PC's export lock was never released"
            time.sleep(0.1)
        assert batches.list_batches(store) == []  # settled: dropped, its file never arrived
        plan = ex.prepare(store, ex.Scope.since_last())
        assert len(plan.going) == RECORDS  # nothing counts as sent
        ex.write(store, plan, target)
        assert target.is_file()
        assert len(batches.list_batches(store)) == 1
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        store.close()
        team.drop()
