"""Issue 11 point 3: a crash mid-restore (or mid-backup) is recoverable from every path.

A real ``flsdesk restore`` / ``flsdesk backup`` runs in a child process whose ``os.replace`` and
``os.fsync`` (which every rename, file sync and folder sync in flsdesk goes through) count their
calls; the child SIGKILLs itself just before call number N. A first run counts the calls, then the
command is killed at each one in turn (and once after the last). After every kill the ordinary
commands run as a person would run them next, and the old or the new store must open with all of
its records; ``init`` must never create a store over it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import backup
from flsdesk.store.errors import StoreDamaged
from tests.helpers.store_cases import PASS, add_records, data_key, init_store, record_count

REPO = Path(__file__).resolve().parents[2]
OLD_RECORDS = 3
BACKUP_RECORDS = 8

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, os.environ["REPO"])
    crash_at = int(os.environ["CRASH_AT"])
    calls = 0

    def counted(real):
        def call(*args, **kwargs):
            global calls
            calls += 1
            if calls == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call

    os.replace = counted(os.replace)
    os.fsync = counted(os.fsync)
    from flsdesk.cli import main
    code = main(sys.argv[1:])
    with open(os.environ["COUNT_FILE"], "w") as fh:
        fh.write(str(calls))
    sys.exit(code)
    """
)


def _child(tmp_path: Path, args: list[str], crash_at: int) -> tuple[int, int | None]:
    """Run the command in a child; returns its exit status and, when it was not killed, how
    many renames and syncs it made."""
    script = tmp_path / "crash_child.py"
    script.write_text(CHILD)
    count_file = tmp_path / "calls.txt"
    count_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "REPO": str(REPO),
        "CRASH_AT": str(crash_at),
        "COUNT_FILE": str(count_file),
        "FLSDESK_PASSPHRASE": PASS,
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    calls = int(count_file.read_text()) if count_file.exists() else None
    return done.returncode, calls


@pytest.fixture
def template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[AppPaths, Path]:
    """A store of OLD_RECORDS records, and a backup (same passphrase) of BACKUP_RECORDS."""
    other = resolve(tmp_path / "other")
    init_store(other, monkeypatch, capsys)
    add_records(other, BACKUP_RECORDS, start=500)
    made = backup.backup_to_folder(other, data_key(other), tmp_path / "usb")
    paths = resolve(tmp_path / "template")
    init_store(paths, monkeypatch, capsys)
    add_records(paths, OLD_RECORDS)
    return paths, made


def _fresh_copy(template: AppPaths, where: Path) -> AppPaths:
    shutil.copytree(template.data_dir, where, ignore=shutil.ignore_patterns("logs"))
    return resolve(where)


def _check_after_crash(paths: AppPaths, capsys: pytest.CaptureFixture[str], allowed: set[int]):
    # What a person runs next. init first: it must refuse, never bury the store.
    code = main(["--data-dir", str(paths.data_dir), "init", "--site", "X"])
    assert code in (EXIT_USAGE, EXIT_STORE), capsys.readouterr().err
    assert main(["--data-dir", str(paths.data_dir), "followups"]) == EXIT_OK, (
        capsys.readouterr().err
    )
    count = record_count(paths)
    assert count in allowed, count
    assert not backup.restore_leftovers(paths)
    capsys.readouterr()
    return count


def _restore_args(paths: AppPaths, made: Path) -> list[str]:
    return ["--data-dir", str(paths.data_dir), "restore", "--yes", str(made)]


def _crash_restore_at(
    tmp_path: Path, template: tuple[AppPaths, Path], capsys, crash_at: int
) -> tuple[int, int]:
    paths_t, made = template
    paths = _fresh_copy(paths_t, tmp_path / f"run-{crash_at}")
    code, _ = _child(tmp_path, _restore_args(paths, made), crash_at)
    count = _check_after_crash(paths, capsys, {OLD_RECORDS, BACKUP_RECORDS})
    return code, count


def _count_restore_points(tmp_path: Path, template: tuple[AppPaths, Path]) -> int:
    paths_t, made = template
    probe = _fresh_copy(paths_t, tmp_path / "probe")
    code, calls = _child(tmp_path, _restore_args(probe, made), crash_at=0)
    assert code == EXIT_OK and calls, (code, calls)
    assert record_count(probe) == BACKUP_RECORDS
    return calls


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_restore_killed_as_the_old_store_is_moved_aside(
    tmp_path: Path, template: tuple[AppPaths, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The point found in the field: the old database aside, the new one not yet in place."""
    calls = _count_restore_points(tmp_path, template)
    paths_t, made = template
    for crash_at in range(1, calls + 1):
        paths = _fresh_copy(paths_t, tmp_path / f"find-{crash_at}")
        code, _ = _child(tmp_path, _restore_args(paths, made), crash_at)
        assert code == -signal.SIGKILL
        if not paths.database.exists():
            break
        shutil.rmtree(paths.data_dir)
    else:
        pytest.fail("no crash point left the database moved aside")
    assert (paths.data_dir / "flsdesk.db.before-restore").exists()
    assert _check_after_crash(paths, capsys, {OLD_RECORDS}) == OLD_RECORDS


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_restore_killed_at_every_rename_and_sync(
    tmp_path: Path, template: tuple[AppPaths, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _count_restore_points(tmp_path, template)
    seen: dict[int, int] = {}
    for crash_at in range(1, calls + 1):
        code, count = _crash_restore_at(tmp_path, template, capsys, crash_at)
        assert code == -signal.SIGKILL, crash_at
        seen[crash_at] = count
    # Both outcomes happen: killed before the swap the old store stays, after it the new one.
    assert set(seen.values()) == {OLD_RECORDS, BACKUP_RECORDS}, seen


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_restore_into_an_empty_folder_killed_at_every_point(
    tmp_path: Path, template: tuple[AppPaths, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Moving to a new PC: no old store. A kill leaves either the restored store or none (and
    then init may create one), never a key file without its database."""
    _paths_t, made = template
    probe = resolve(tmp_path / "empty-probe")
    code, calls = _child(tmp_path, _restore_args(probe, made), crash_at=0)
    assert code == EXIT_OK and calls
    for crash_at in range(1, calls + 1):
        paths = resolve(tmp_path / f"empty-{crash_at}")
        code, _ = _child(tmp_path, _restore_args(paths, made), crash_at)
        assert code == -signal.SIGKILL
        folder = str(paths.data_dir)
        result = main(["--data-dir", folder, "followups"])
        err = capsys.readouterr().err
        if result == EXIT_OK:
            assert record_count(paths) == BACKUP_RECORDS
        else:
            assert result == EXIT_STORE and "no flsdesk store" in err.lower(), (crash_at, err)
            assert not paths.key_file.exists() and not paths.database.exists()
        assert not backup.restore_leftovers(paths)


def _backup_args(paths: AppPaths, folder: Path) -> list[str]:
    return ["--data-dir", str(paths.data_dir), "backup", str(folder)]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_backup_killed_at_every_rename_and_sync(
    tmp_path: Path, template: tuple[AppPaths, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    paths_t, _made = template
    probe = _fresh_copy(paths_t, tmp_path / "probe")
    code, calls = _child(tmp_path, _backup_args(probe, tmp_path / "probe-out"), crash_at=0)
    assert code == EXIT_OK and calls
    for crash_at in range(1, calls + 1):
        paths = _fresh_copy(paths_t, tmp_path / f"run-{crash_at}")
        out = tmp_path / f"out-{crash_at}"
        code, _ = _child(tmp_path, _backup_args(paths, out), crash_at)
        assert code == -signal.SIGKILL
        _check_after_crash(paths, capsys, {OLD_RECORDS})
        # Any backup file there is whole and restores the store's records.
        for made in out.glob("*.fdbk") if out.exists() else []:
            info = backup.read_info(made)
            assert info.records == OLD_RECORDS
        # The next backup works.
        assert main(_backup_args(paths, out)) == EXIT_OK
        capsys.readouterr()


def test_init_refuses_leftovers_it_cannot_settle(
    tmp_path: Path, template: tuple[AppPaths, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A restore's leftovers that cannot be settled (here: a folder where a temp file would be)
    make init refuse, saying how to recover; the store kept aside stays."""
    paths_t, _made = template
    paths = _fresh_copy(paths_t, tmp_path / "stuck")
    os.replace(paths.database, paths.data_dir / "flsdesk.db.before-restore")
    os.replace(paths.key_file, paths.data_dir / "flsdesk.key.before-restore")
    stuck = paths.data_dir / ".flsdesk-restore-stuck.db"
    stuck.mkdir()
    (stuck / "x").write_text("cannot be unlinked as a file")
    capsys.readouterr()
    code = main(["--data-dir", str(paths.data_dir), "init", "--site", "X"])
    err = capsys.readouterr().err
    assert code == EXIT_STORE
    assert "interrupted" in err and "finish or undo" in err
    assert (paths.data_dir / "flsdesk.db.before-restore").exists() or paths.database.exists()
    assert not (paths.key_file.exists() and not paths.database.exists())
    shutil.rmtree(stuck)
    assert main(["--data-dir", str(paths.data_dir), "followups"]) == EXIT_OK
    assert record_count(paths) == OLD_RECORDS
    with pytest.raises(StoreDamaged):  # nothing left to settle: an empty database is damage
        paths.database.write_bytes(b"")
        backup.backup_to_folder(paths, data_key(paths), tmp_path / "usb")
