"""Issue 11.6: no plaintext left behind. A real flsdesk process is SIGKILLed while its temporary
file is on disk (an export's CSV, a backup, ``passwd``'s new key file, a restore's database);
the next start removes it — in the export folder, a backup folder, the data folder — and a
temporary file a live process still holds is never touched."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flsdesk import files, session
from flsdesk.cli import main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import backup as backup_mod
from tests.helpers.export_records import golden_records

PASSPHRASE = "correct horse battery staple"
NEW_PASSPHRASE = "a brand new passphrase of words"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="SIGKILL, and /proc to see which file is synced"
)

# The real command line in a process of its own, which stops for good right after it has synced
# a temporary file of the given kind (the data is on disk, the rename has not happened).
CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, os.environ["REPO"])
    real_fsync = os.fsync
    prefix = ".flsdesk-" + os.environ["HANG_ON"] + "-"

    def fsync_then_hang(fd):
        real_fsync(fd)
        try:
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            name = ""
        if name.startswith(prefix):
            open(os.environ["MARKER"], "w").close()
            time.sleep(300)

    os.fsync = fsync_then_hang
    from flsdesk.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    paths = resolve(None)
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    for answers in golden_records():
        created.store.new_record(answers)
    created.store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    return paths


def _kill_mid_write(paths: AppPaths, tmp_path: Path, kind: str, *argv: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / "synced"
    env = {
        **os.environ,
        "REPO": str(REPO),
        "HANG_ON": kind,
        "MARKER": str(marker),
        "FLSDESK_NEW_PASSPHRASE": NEW_PASSPHRASE,
    }
    child = subprocess.Popen(
        [sys.executable, str(script), "--data-dir", str(paths.data_dir), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the child never reached the write"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL


def _temps(folder: Path, kind: str) -> list[Path]:
    return sorted(folder.glob(f".flsdesk-{kind}-*"))


def _next_start(paths: AppPaths) -> None:
    assert main(["followups"]) == 0  # any command: the start-up is what cleans


@pytest.mark.slow
def test_killed_export_leaves_its_csv_until_the_next_start(paths: AppPaths, tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    _kill_mid_write(paths, tmp_path, "write", "export", "--all", "--out", str(out / "x.csv"))
    [left] = _temps(out, "write")
    assert b"1.01" in left.read_bytes()  # the plaintext CSV: what must not stay
    assert not (out / "x.csv").exists()
    _next_start(paths)
    assert list(out.iterdir()) == []
    # The note of where the killed process wrote is gone with it.
    assert _temps(paths.data_dir, "where") == []


@pytest.mark.slow
def test_killed_backup_into_a_folder_of_the_users(paths: AppPaths, tmp_path: Path) -> None:
    folder = tmp_path / "usb-stick"
    folder.mkdir()
    _kill_mid_write(paths, tmp_path, "backup", "backup", str(folder))
    assert len(_temps(folder, "backup")) == 2  # the database copy and the container
    _next_start(paths)
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_killed_backup_into_the_backups_folder(paths: AppPaths, tmp_path: Path) -> None:
    _kill_mid_write(paths, tmp_path, "backup", "backup", str(paths.backups_dir))
    assert _temps(paths.backups_dir, "backup")
    # Without a start in between: the next backup into that folder cleans it before it writes.
    backup_mod.backup_to_folder(paths, session.unlock_key(paths, PASSPHRASE), paths.backups_dir)
    assert [p.suffix for p in paths.backups_dir.iterdir()] == [".fdbk"]


@pytest.mark.slow
def test_killed_passwd_leaves_no_key_copy_and_the_old_passphrase_works(
    paths: AppPaths, tmp_path: Path
) -> None:
    key_before = paths.key_file.read_bytes()
    _kill_mid_write(paths, tmp_path, "key", "passwd")
    assert _temps(paths.data_dir, "key")
    _next_start(paths)
    assert _temps(paths.data_dir, "key") == []
    assert paths.key_file.read_bytes() == key_before
    session.unlock_key(paths, PASSPHRASE)  # still opens


@pytest.mark.slow
def test_killed_restore_leaves_no_database_copy(
    paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = backup_mod.backup_to_folder(
        paths, session.unlock_key(paths, PASSPHRASE), tmp_path / "bk"
    )
    _kill_mid_write(paths, tmp_path, "restore", "restore", "--yes", str(made))
    assert _temps(paths.data_dir, "restore")
    _next_start(paths)
    assert _temps(paths.data_dir, "restore") == []
    with session.open_store(paths, session.unlock_key(paths, PASSPHRASE), "AB") as store:
        assert store.live_count() == len(golden_records())


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield child
    if child.poll() is None:
        child.kill()
        child.wait(30)


def test_only_stale_temporary_files_go(tmp_path: Path, live_process) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    held = folder / f".flsdesk-write-{live_process.pid}-{'a' * 16}.tmp"
    held.write_bytes(b"a live export")
    old_style = folder / ".flsdesk-write-k3j_x9Qz.tmp"  # named by an earlier flsdesk
    old_style.write_bytes(b"x")
    past = files.PROCESS_STARTED - 3600
    os.utime(old_style, (past, past))
    new_old_style = folder / ".flsdesk-key-abcdefgh.tmp"  # no process id and not older: kept
    new_old_style.write_bytes(b"x")
    others = [folder / "export.csv", folder / ".flsdesk-notes.txt", folder / ".hidden.tmp"]
    for other in others:
        other.write_bytes(b"not ours")
    assert files.clean_stale_temps(folder) == 1
    assert not old_style.exists() and held.exists() and new_old_style.exists()
    assert all(o.exists() for o in others)
    live_process.kill()
    live_process.wait(30)
    # The process is gone: its file is now a leftover, and the next write here removes it.
    files.write_text(folder / "export.csv", "new")
    assert not held.exists() and new_old_style.exists()
    assert all(o.exists() for o in others)


def test_temporary_names_hold_the_kind_and_process_only() -> None:
    name = files.temp_name("backup", ".db")
    assert re.fullmatch(rf"\.flsdesk-backup-{os.getpid()}-[0-9a-f]{{16}}\.db", name)
    with pytest.raises(ValueError):
        files.temp_name("anything")


def test_a_normal_run_leaves_nothing_behind(paths: AppPaths, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    out.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "main.py"),
            "--data-dir",
            str(paths.data_dir),
            "export",
            "--all",
            "--out",
            str(out / "x.csv"),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out.iterdir()] == ["x.csv"]
    assert not list(paths.data_dir.glob(".flsdesk-*"))  # not even the note of where it wrote


def test_an_interrupted_restores_files_are_left_to_its_recovery(tmp_path: Path) -> None:
    paths = resolve(tmp_path / "data")
    paths.data_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    restore_db = paths.data_dir / f".flsdesk-restore-{dead.pid}-{'b' * 16}.db"
    write_tmp = paths.data_dir / f".flsdesk-write-{dead.pid}-{'c' * 16}.tmp"
    for f in (restore_db, write_tmp):
        f.write_bytes(b"x")
    before = paths.data_dir / "flsdesk.db.before-restore"
    before.write_bytes(b"the previous store")
    files.clean_at_start(paths)
    assert restore_db.exists() and not write_tmp.exists() and before.exists()
    before.unlink()  # once the restore's recovery has run, they are plain leftovers
    files.clean_at_start(paths)
    assert not restore_db.exists()
