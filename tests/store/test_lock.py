"""One copy per store: the lock file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flsdesk.store.errors import StoreInUse
from flsdesk.store.lock import StoreLock, lock_path

ROOT = Path(__file__).parents[2]

HOLDER = """
import sys, time
from pathlib import Path
from flsdesk.store.lock import StoreLock
lock = StoreLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_second_copy_in_the_same_process_refused(tmp_path: Path) -> None:
    with (
        StoreLock(tmp_path),
        pytest.raises(StoreInUse, match=rf"already open on this store \(process {os.getpid()}"),
    ):
        StoreLock(tmp_path).acquire()
    with StoreLock(tmp_path) as again:  # released: free again
        assert again.held


def test_second_process_refused_then_takes_over_after_a_crash(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreInUse, match=rf"process {holder.pid} on this computer"):
            StoreLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The crashed copy left its file (with its pid) behind; the OS dropped its lock.
    assert str(holder.pid) in lock_path(tmp_path).read_text()
    lock = StoreLock(tmp_path)
    lock.acquire()
    try:
        assert lock_path(tmp_path).read_text().startswith(f"pid={os.getpid()}\n")
    finally:
        lock.release()


def test_stale_lock_file_with_a_dead_pid_taken_over(tmp_path: Path) -> None:
    lock_path(tmp_path).write_text("pid=999999\nhost=elsewhere\n")
    with StoreLock(tmp_path) as lock:
        assert lock.held
    assert lock_path(tmp_path).read_text() == ""  # released locks leave no pid to mislead


def test_lock_file_is_private(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    with StoreLock(tmp_path / "data"):
        assert lock_path(tmp_path / "data").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
