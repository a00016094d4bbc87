"""One writer for the key file (issue 11 point 4), reproduced the way it was found: two real
``flsdesk`` processes started together on one store, ten times over.

Before the fix ``passwd`` changed the key file without the store lock: two ``passwd`` at once
both reported success while only one new passphrase worked, and ``passwd`` + ``restore`` left the
old store's key file beside the restored database (9 trials in 10), a store no secret opens.
Now the loser of the race stops with exit 3 ("already open"), or finds the secret changed under
it, and the store always opens with the secret the successful command reports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import keys
from flsdesk.store.errors import StoreError
from flsdesk.store.settings import SERVICE_NAME
from flsdesk.store.store import Store

REPO = Path(__file__).resolve().parents[2]
OLD = "the old passphrase"
NEW = "a brand new passphrase"
OTHER_NEW = "another new passphrase"
TRIALS = 10
RECOVERY = re.compile(r"\b[A-Z2-7]{5}(?:-[A-Z2-7]{5}){7}\b")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="fork timing")]


def _init(data_dir: Path, site: str, monkeypatch: pytest.MonkeyPatch, capsys) -> str:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", OLD)
    assert main(["--data-dir", str(data_dir), "init", "--site", site]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    found = RECOVERY.findall(capsys.readouterr().out)
    assert len(found) == 1
    return found[0]


def _start(data_dir: Path, *argv: str, **env: str) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    for var in ("FLSDESK_PASSPHRASE", "FLSDESK_RECOVERY_KEY", "FLSDESK_NEW_PASSPHRASE"):
        if var not in env:
            full_env.pop(var, None)
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "--data-dir", str(data_dir), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=full_env,
        text=True,
    )


def _finish(child: subprocess.Popen[str]) -> tuple[int, str]:
    _out, err = child.communicate(timeout=300)
    assert "Traceback" not in err, err
    return child.returncode, err


def _opens_with(paths: AppPaths, secret: str) -> str | None:
    """The site name of the store when ``secret`` opens both key file and database."""
    try:
        key = keys.unlock_document(keys.read_key_document(paths.key_file), secret)
    except StoreError:
        return None
    with Store.open(paths, key, "TS (tester)") as store:  # raises if the key fits no database
        return str(store.get_setting(SERVICE_NAME))


def _restore_needs_yes() -> list[str]:
    # The restore confirmation (issue 11 point 2) may ask for --yes without a terminal.
    help_text = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "restore", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    ).stdout
    return ["--yes"] if "--yes" in help_text else []


def test_two_passwd_at_once_leave_the_reported_passphrase_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for trial in range(TRIALS):
        data = tmp_path / f"store-{trial}"
        recovery = _init(data, "Store A", monkeypatch, capsys)
        first = _start(data, "passwd", FLSDESK_PASSPHRASE=OLD, FLSDESK_NEW_PASSPHRASE=NEW)
        second = _start(data, "passwd", FLSDESK_PASSPHRASE=OLD, FLSDESK_NEW_PASSPHRASE=OTHER_NEW)
        (code_1, err_1), (code_2, err_2) = _finish(first), _finish(second)
        assert {code_1, code_2} <= {EXIT_OK, EXIT_STORE}, (err_1, err_2)
        # Serialised: the second either found the store in use or the old passphrase gone.
        assert sorted([code_1, code_2]) == [EXIT_OK, EXIT_STORE], (trial, err_1, err_2)
        winner, loser = (NEW, OTHER_NEW) if code_1 == EXIT_OK else (OTHER_NEW, NEW)
        paths = resolve(data)
        assert _opens_with(paths, winner) == "Store A", trial
        assert _opens_with(paths, loser) is None
        assert _opens_with(paths, OLD) is None
        assert _opens_with(paths, recovery) == "Store A"


def test_passwd_and_restore_at_once_never_leave_a_store_nothing_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The backup is of ANOTHER store (another data key) with the same passphrase, as when a
    # service restores last week's copy from another PC: both orders then succeed.
    other = tmp_path / "other"
    other_recovery = _init(other, "Store B", monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", OLD)
    assert main(["--data-dir", str(other), "backup", str(tmp_path / "usb")]) == EXIT_OK
    backup_file = capsys.readouterr().out.strip()
    monkeypatch.delenv("FLSDESK_PASSPHRASE")
    yes = _restore_needs_yes()
    outcomes = set()
    for trial in range(TRIALS):
        data = tmp_path / f"store-{trial}"
        recovery = _init(data, "Store A", monkeypatch, capsys)
        passwd = _start(data, "passwd", FLSDESK_PASSPHRASE=OLD, FLSDESK_NEW_PASSPHRASE=NEW)
        restore = _start(data, "restore", backup_file, *yes, FLSDESK_PASSPHRASE=OLD)
        (p_code, p_err), (r_code, r_err) = _finish(passwd), _finish(restore)
        assert p_code in (EXIT_OK, EXIT_STORE) and r_code in (EXIT_OK, EXIT_STORE), (
            p_err,
            r_err,
        )
        assert EXIT_OK in (p_code, r_code), (p_err, r_err)
        paths = resolve(data)
        opened = {s: _opens_with(paths, s) for s in (OLD, NEW, recovery, other_recovery)}
        if r_code != EXIT_OK:  # only passwd happened
            assert "already open" in r_err
            assert opened == {OLD: None, NEW: "Store A", recovery: "Store A", other_recovery: None}
        elif p_code != EXIT_OK:  # only the restore happened
            assert opened == {OLD: "Store B", NEW: None, recovery: None, other_recovery: "Store B"}
        else:  # one after the other: store B, with whichever passphrase came last
            assert opened[other_recovery] == "Store B" and opened[recovery] is None
            assert sorted(str(opened[s]) for s in (OLD, NEW)) == ["None", "Store B"], opened
        outcomes.add((p_code, r_code))
    print("outcomes (passwd, restore):", sorted(outcomes))
