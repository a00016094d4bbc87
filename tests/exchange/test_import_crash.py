"""A killed import leaves the store as it was: a child process applying an import file is killed
with SIGKILL in the middle of its one transaction (and, in other rounds, at a random moment).

Afterwards the database passes ``PRAGMA integrity_check`` and holds either nothing of the file
(no partial rows, no half-changed record, no stray audit entry) or, when the kill came after the
commit, all of it. Real processes, real SQLCipher files, no mocks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flsdesk.paths import AppPaths
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    complete_answers,
    nhs_number,
    paths_fixture,
)
from tests.helpers.import_helpers import base_row, cells_from_answers, unique_nhs_numbers, write_csv

REPO = Path(__file__).resolve().parents[2]
NEW_ROWS = 4500  # more than two of the writer's chunks, so the kill can land between them
UPDATED = 20

CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, os.environ["REPO"])
    from flsdesk.paths import resolve
    from flsdesk.store.store import Store
    from flsdesk.exchange import importer

    store = Store.open(resolve(sys.argv[1]), bytes.fromhex(os.environ["KEY"]), "CR (crash)")
    plan = importer.read_plan(store, sys.argv[2])
    if plan.rejected:  # a short message: a long one could fill the stderr pipe and hang us
        print("rejected", plan.rejected, flush=True)
        sys.exit(1)
    pause = sys.argv[3] == "pause"
    print("planned", flush=True)

    def progress(done, total):
        print(f"progress {done} {total}", flush=True)
        if pause:
            time.sleep(60)  # inside the transaction: the parent kills us here

    importer.apply(store, plan, progress=progress)
    print("committed", flush=True)
    time.sleep(60)
    """
)


def _state(paths: AppPaths) -> tuple[str, int, int, dict[int, str]]:
    with Store.open(paths, TEST_KEY, TEST_USER) as store, store.engine.connect() as conn:
        integrity = str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())
        records = int(conn.exec_driver_sql("SELECT count(*) FROM records").scalar() or 0)
        audit = int(conn.exec_driver_sql("SELECT count(*) FROM audit").scalar() or 0)
        answers = {
            rid: text
            for rid, text in conn.exec_driver_sql(
                "SELECT id, answers FROM records WHERE id <= ?", (UPDATED,)
            )
        }
    return integrity, records, audit, answers


def _kill_child(paths: AppPaths, script: Path, csv: Path, mode: str, delay: float) -> str:
    env = {**os.environ, "REPO": str(REPO), "KEY": TEST_KEY.hex()}
    child = subprocess.Popen(
        [sys.executable, str(script), str(paths.data_dir), str(csv), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    last = ""
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "planned\n", child.stderr.read() if child.stderr else line
        if mode == "pause":
            last = child.stdout.readline()  # the first chunk is written, not committed
            assert last.startswith("progress "), last
        else:
            time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        last = (out.splitlines() or [last])[-1] if out else last
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    return last


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_killed_import_leaves_the_store_as_it_was(paths: AppPaths, tmp_path: Path) -> None:
    with Store.create(paths, TEST_KEY, TEST_USER, "Crash FLS") as store:
        stored = [complete_answers(n) for n in unique_nhs_numbers(UPDATED, 300000000)]
        store.bulk_insert(stored)
    rows = [cells_from_answers(a) | {"1.05": "Yes"} for a in stored]
    rows += [base_row(n) for n in unique_nhs_numbers(NEW_ROWS)]
    csv = write_csv(tmp_path, rows)
    script = tmp_path / "import_child.py"
    script.write_text(CHILD)
    before = _state(paths)
    assert before[0] == "ok" and before[1] == UPDATED

    # Killed while the transaction is open, after the first chunk went in.
    last = _kill_child(paths, script, csv, "pause", 0)
    assert last.startswith("progress ")
    assert _state(paths) == before

    # Killed at random moments: all of the file or none of it, never part.
    rng = random.Random(7)
    for _ in range(3):
        last = _kill_child(paths, script, csv, "run", rng.uniform(0.0, 2.5))
        integrity, records, _audit, answers = _state(paths)
        assert integrity == "ok"
        if records == before[1]:
            assert answers == before[3] and _state(paths)[2] == before[2]
        else:
            assert records == UPDATED + NEW_ROWS
            assert all(json.loads(a)["1.05"] == "Yes" for a in answers.values())
            break  # applied in full; a later round would only find it all unchanged
