"""A killed export: a real process writing a big export is SIGKILLed after its rows are on disk
and before the rename. The target is untouched, no batch is recorded, and the next export into
that folder removes the temporary file the dead one left."""

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
from flsdesk.files import TEMP_PREFIX
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    complete_answers,
    nhs_number,
    paths_fixture,
)

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, os.environ["REPO"])
    from flsdesk.paths import resolve
    from flsdesk.store.store import Store
    from flsdesk.exchange import export as ex
    from flsdesk import files

    real_fsync = files.os.fsync

    def fsync_then_hang(fd):
        real_fsync(fd)
        # The rows are on disk in the temporary file; the rename has not happened.
        open(os.environ["MARKER"], "w").close()
        time.sleep(120)

    files.os.fsync = fsync_then_hang
    store = Store.open(resolve(sys.argv[1]), bytes.fromhex(os.environ["KEY"]), "CR (crash)")
    ex.export(store, ex.Scope.all(), sys.argv[2])
    print("finished", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_export_leaves_no_partial_file_and_no_batch(paths, tmp_path: Path) -> None:
    with Store.create(paths, TEST_KEY, TEST_USER, "Crash FLS") as s:
        s.bulk_insert([complete_answers(nhs_number(200000000 + 10 * i)) for i in range(1500)])
        s.set_setting("require_optout_check", False)  # the records are not opt-out checked
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "export.csv"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / "marker"
    env = {**os.environ, "REPO": str(REPO), "KEY": TEST_KEY.hex(), "MARKER": str(marker)}
    child = subprocess.Popen(
        [sys.executable, str(script), str(paths.data_dir), str(target)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the child never reached the write"
            time.sleep(0.05)
        [partial] = list(out_dir.iterdir())
        assert partial.name.startswith(TEMP_PREFIX) and partial.stat().st_size > 100_000
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    assert not target.exists()
    with Store.open(paths, TEST_KEY, TEST_USER) as s:
        assert batches.list_batches(s) == []
        plan = ex.prepare(s, ex.Scope.since_last())
        assert len(plan.going) == 1500  # nothing counts as sent
        ex.write(s, plan, target)
        assert [p.name for p in out_dir.iterdir()] == ["export.csv"]
        assert len(batches.list_batches(s)) == 1
