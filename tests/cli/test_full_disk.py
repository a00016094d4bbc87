"""A full disk (issue 11 point 8): import, export, backup, restore, passwd and the lock file.

A real small tmpfs is mounted and filled to the last byte (we run as root in CI and here). Where
mounting is impossible, the same commands run with RLIMIT_FSIZE in the child (SIGXFSZ ignored,
so writes past the limit fail with EFBIG, which flsdesk treats like ENOSPC); that cannot tell the
store's disk from the output's, so there only "2 or 3" is asserted. Every command runs as a
real child process; each must say the disk is full and exit 2 (the output's disk) or 3 (the
store's), never 1 or 4, never a traceback or a logging error, and the store must still open with
all its records and its old passphrase.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.paths import resolve
from flsdesk.store import keys
from flsdesk.store.store import Store
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.import_helpers import WEBTOOL_EXPORT

REPO = Path(__file__).resolve().parents[2]
PASS = "correct horse battery"
RECORDS = 60
FORCE_RLIMIT = os.environ.get("FLSDESK_TEST_FULL_DISK") == "rlimit"  # to exercise the fallback

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="tmpfs/rlimit")]


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[bool]:
    folder.mkdir()
    mounted = False
    if not FORCE_RLIMIT:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
            capture_output=True,
        )
        mounted = done.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    """Write a filler file until the file system refuses another byte."""
    chunk = b"\0" * 65536
    with open(folder / f"filler-{uuid.uuid4().hex}", "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    with open(folder / f"filler-{uuid.uuid4().hex}", "wb", buffering=0) as fh:
        for size in (4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * size)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))


def _cli(data_dir: Path, *argv: str, mounted: bool, **env: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--data-dir", str(data_dir), *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), "FLSDESK_PASSPHRASE": PASS, **env},
        preexec_fn=None if mounted else _limit_file_size,
        timeout=300,
    )
    err = done.stderr
    assert "Traceback" not in err and "Logging error" not in err, err
    assert "unexpected error" not in err and "internal error" not in err, err
    return done.returncode, err


def _expect(code: int, err: str, wanted: int, mounted: bool) -> None:
    if mounted:
        assert code == wanted, err
        assert "full" in err, err
    else:
        assert code in (EXIT_USAGE, EXIT_STORE), err
        assert re.search(r"full|cannot|could not|Cannot", err), err


def _make_store(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> bytes:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["--data-dir", str(data_dir), "init", "--site", "Full FLS"]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    capsys.readouterr()
    paths = resolve(data_dir)
    key = keys.unlock_with_passphrase(paths.key_file, PASS)
    with Store.open(paths, key, "TS (tester)") as store:
        store.set_setting("require_optout_check", False)  # so the export has rows to write
        for i in range(RECORDS):
            store.new_record(complete_answers(nhs_number(700000000 + 10 * i), notes="x" * 400))
    return key


def _intact(data_dir: Path, key: bytes) -> None:
    paths = resolve(data_dir)
    assert keys.unlock_with_passphrase(paths.key_file, PASS) == key
    with Store.open(paths, key, "TS (tester)") as store:
        assert store.live_count() == RECORDS


def test_store_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    key = _make_store(outside, monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert main(["--data-dir", str(outside), "backup", str(tmp_path / "usb")]) == EXIT_OK
    backup_file = capsys.readouterr().out.strip()
    monkeypatch.delenv("FLSDESK_PASSPHRASE")

    with _tmpfs(tmp_path / "disk", "6m") as mounted:
        data = tmp_path / "disk" / "data"
        key = _make_store(data, monkeypatch, capsys)
        (data / "flsdesk.lock").unlink(missing_ok=True)  # so taking the lock must write
        if mounted:
            _fill(tmp_path / "disk")

        # The lock file's text cannot be written: the OS lock still holds; whatever the command
        # then writes meets the full disk and says so.
        code, err = _cli(data, "followups", mounted=mounted)
        assert code in (EXIT_OK, EXIT_STORE), err
        if code == EXIT_STORE:
            assert "full" in err or "cannot" in err.lower(), err

        code, err = _cli(data, "import", str(WEBTOOL_EXPORT), mounted=mounted)
        _expect(code, err, EXIT_STORE, mounted)
        code, err = _cli(data, "passwd", mounted=mounted, FLSDESK_NEW_PASSPHRASE="a new one!")
        _expect(code, err, EXIT_STORE, mounted)
        code, err = _cli(data, "restore", backup_file, "--yes", mounted=mounted)
        if "unrecognized arguments: --yes" in err:  # before restore learnt to ask
            code, err = _cli(data, "restore", backup_file, mounted=mounted)
        _expect(code, err, EXIT_STORE, mounted)
        assert not list(data.glob("*.before-restore*"))
        for filler in (tmp_path / "disk").glob("filler-*"):
            filler.unlink()  # room again: what was there is all there
        _intact(data, key)


def test_output_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    key = _make_store(data, monkeypatch, capsys)
    with _tmpfs(tmp_path / "usb", "1m") as mounted:
        usb = tmp_path / "usb"
        if mounted:
            _fill(usb)
        else:
            usb = tmp_path / "out"  # with a size limit the output may go anywhere
            usb.mkdir()
        code, err = _cli(data, "export", "--all", "--out", str(usb / "x.csv"), mounted=mounted)
        _expect(code, err, EXIT_USAGE, mounted)
        code, err = _cli(data, "backup", str(usb), mounted=mounted)
        _expect(code, err, EXIT_USAGE, mounted)
        code, err = _cli(
            data, "followups", "--state", "all", "--csv", str(usb / "f.csv"), mounted=mounted
        )
        if code != EXIT_OK:  # a short call sheet may still fit the last free bytes
            _expect(code, err, EXIT_USAGE, mounted)
        assert not [p for p in usb.iterdir() if not p.name.startswith("filler-")]
    _intact(data, key)
