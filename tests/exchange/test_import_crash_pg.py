"""An import killed in the middle of its one transaction on a team database: a real PC process
is SIGKILLed after the first chunk of new records went in, holding the store's write lock. The
server rolls it all back (no record, no audit entry, no changed answer) and the lock goes with the
dead session: another PC then imports the same file in full, and a record created after it gets
a fresh id (the import took its ids from the table's sequence)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flsdesk.exchange import importer
from flsdesk.store.roles import Role
from flsdesk.store.store import Store
from tests.exchange.team_helpers import open_team
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.import_helpers import base_row, cells_from_answers, unique_nhs_numbers, write_csv
from tests.helpers.pg_store import LOGIN_PASSWORD, make_team_database

REPO = Path(__file__).resolve().parents[2]
NEW_ROWS = 4500  # more than two of the writer's chunks
UPDATED = 20

CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, os.environ["REPO"])
    from flsdesk.exchange import importer
    from tests.exchange.team_helpers import open_team

    store = open_team(os.environ["FLSDESK_STORE"], os.environ["FLSDESK_DB_PASSWORD"], sys.argv[1])
    plan = importer.read_plan(store, sys.argv[2])
    if plan.rejected:
        print("rejected", plan.rejected, flush=True)
        sys.exit(1)
    print("planned", flush=True)

    def progress(done, total):
        print(f"progress {done} {total}", flush=True)
        time.sleep(60)  # inside the transaction: the parent kills us here

    importer.apply(store, plan, progress=progress)
    print("committed", flush=True)
    """
)


def _state(store: Store) -> tuple[int, int, dict[int, Any]]:
    with store.engine.connect() as conn:
        records = int(conn.exec_driver_sql("SELECT count(*) FROM records").scalar() or 0)
        audit = int(conn.exec_driver_sql("SELECT count(*) FROM audit").scalar() or 0)
        answers = {
            rid: json.loads(text)
            for rid, text in conn.exec_driver_sql("SELECT id, answers FROM records").all()
        }
    return records, audit, answers


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_killed_import_on_a_team_database_leaves_it_as_it_was(pg_cluster, tmp_path: Path) -> None:
    team = make_team_database(pg_cluster)
    here = team.add_login("fls_here", Role.ADMIN).display
    there = team.add_login("fls_there", Role.ENTRY).display
    store = open_team(here, LOGIN_PASSWORD, tmp_path / "here")
    child = None
    try:
        stored = [complete_answers(n) for n in unique_nhs_numbers(UPDATED, 300000000)]
        store.bulk_insert(stored)
        rows = [cells_from_answers(a) | {"1.05": "Yes"} for a in stored]
        rows += [base_row(n) for n in unique_nhs_numbers(NEW_ROWS)]
        csv = write_csv(tmp_path, rows)
        script = tmp_path / "import_child.py"
        script.write_text(CHILD)
        before = _state(store)
        assert before[0] == UPDATED

        env = {
            **os.environ,
            "REPO": str(REPO),
            "FLSDESK_STORE": there,
            "FLSDESK_DB_PASSWORD": LOGIN_PASSWORD,
        }
        child = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "there"), str(csv)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "planned\n", child.stderr.read() if child.stderr else line
        line = child.stdout.readline()  # the first chunk is written, not committed
        assert line.startswith("progress "), line
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL

        assert _state(store) == before  # nothing of the file, nothing half-changed

        # This PC imports the same file: the dead one's write lock is gone with its session.
        plan = importer.read_plan(store, csv)
        assert not plan.rejected
        importer.apply(store, plan)
        records, _audit, answers = _state(store)
        assert records == UPDATED + NEW_ROWS
        assert all(answers[rid]["1.05"] == "Yes" for rid in list(before[2]))
        # A record saved the ordinary way after the import gets a fresh id.
        new_id = store.new_record(complete_answers(nhs_number(777000111)))
        assert new_id not in answers
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        store.close()
        team.drop()
