"""``flsdesk init``, ``passwd``, ``backup``, ``restore`` through the real command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import keys
from flsdesk.store.lock import StoreLock
from flsdesk.store.settings import ORG_CODE, SERVICE_NAME
from flsdesk.store.store import Store

PASS = "correct horse battery"
RECOVERY = re.compile(r"\b[A-Z2-7]{5}(?:-[A-Z2-7]{5}){7}\b")


@pytest.fixture
def paths() -> AppPaths:
    return resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py


def _init(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Create the store; return the recovery key it printed."""
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["init", "--site", "Test FLS", *extra]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    out = capsys.readouterr().out
    found = RECOVERY.findall(out)
    assert len(found) == 1
    return found[0]


def test_init_creates_an_encrypted_store_and_prints_the_recovery_key(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["init", "--site", "Test FLS", "--org-code", "RXX"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "shown only this once" in out.lower() or "shown only this once" in out
    assert "cannot" in out or "can ever read" in out
    recovery = RECOVERY.search(out)
    assert recovery is not None
    assert paths.database.exists() and paths.key_file.exists()
    assert not paths.database.read_bytes().startswith(b"SQLite format 3")
    data_key = keys.unlock_with_recovery_key(paths.key_file, recovery.group(0))
    assert keys.unlock_with_passphrase(paths.key_file, PASS) == data_key
    # The recovery key is shown, never stored, never logged.
    for f in paths.data_dir.rglob("*"):
        if f.is_file():
            assert recovery.group(0).replace("-", "").encode() not in f.read_bytes()
            assert recovery.group(0).encode() not in f.read_bytes()
    with Store.open(paths, data_key, "TS (tester)") as store:
        assert store.get_setting(SERVICE_NAME) == "Test FLS"
        assert store.get_setting(ORG_CODE) == "RXX"


def test_init_twice_is_exit_2(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(monkeypatch, capsys)
    before = paths.key_file.read_bytes()
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "another passphrase")
    assert main(["init", "--site", "Other"]) == EXIT_USAGE
    assert "already exists" in capsys.readouterr().err
    assert paths.key_file.read_bytes() == before


def test_init_without_a_passphrase_or_terminal_is_exit_2(
    paths: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--site", "Test FLS"]) == EXIT_USAGE
    assert "FLSDESK_NEW_PASSPHRASE" in capsys.readouterr().err
    assert not paths.key_file.exists() and not paths.database.exists()


def test_init_with_a_short_passphrase_is_exit_2(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "short")
    assert main(["init", "--site", "Test FLS"]) == EXIT_USAGE
    assert "at least" in capsys.readouterr().err
    assert not paths.key_file.exists()


def test_wrong_passphrase_is_exit_3_and_changes_nothing(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(monkeypatch, capsys)
    before = {
        f.name: f.read_bytes()
        for f in paths.data_dir.iterdir()
        if f.is_file() and f.suffix != ".lock"
    }
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "not the passphrase")
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "a new passphrase")
    assert main(["passwd"]) == EXIT_STORE
    err = capsys.readouterr().err
    assert "flsdesk passwd: The passphrase is not right for this store." in err
    assert "Traceback" not in err
    assert main(["backup", str(paths.data_dir.parent / "bk")]) == EXIT_STORE
    after = {
        f.name: f.read_bytes()
        for f in paths.data_dir.iterdir()
        if f.is_file() and f.suffix != ".lock"
    }
    assert after == before
    assert not (paths.data_dir.parent / "bk").exists()


def test_no_store_is_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert main(["passwd"]) == EXIT_STORE
    assert "flsdesk init" in capsys.readouterr().err


def test_locked_without_terminal_says_how_to_unlock(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(monkeypatch, capsys)
    assert main(["backup", "somewhere"]) == EXIT_STORE
    assert "FLSDESK_PASSPHRASE" in capsys.readouterr().err


def test_passwd(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recovery = _init(monkeypatch, capsys)
    data_key = keys.unlock_with_passphrase(paths.key_file, PASS)
    db_before = paths.database.read_bytes()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "a new passphrase")
    assert main(["passwd"]) == EXIT_OK
    assert keys.unlock_with_passphrase(paths.key_file, "a new passphrase") == data_key
    with pytest.raises(keys.WrongKey):
        keys.unlock_with_passphrase(paths.key_file, PASS)
    assert paths.database.read_bytes() == db_before  # re-wrapped, not re-encrypted
    # A forgotten passphrase is reset with the recovery key.
    monkeypatch.delenv("FLSDESK_PASSPHRASE")
    monkeypatch.setenv("FLSDESK_RECOVERY_KEY", recovery.lower().replace("-", " "))
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "third passphrase")
    assert main(["passwd"]) == EXIT_OK
    assert keys.unlock_with_passphrase(paths.key_file, "third passphrase") == data_key


def test_backup_and_restore_round_trip(
    paths: AppPaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recovery = _init(monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert main(["backup", str(tmp_path / "usb")]) == EXIT_OK
    made = Path(capsys.readouterr().out.strip())
    assert made.parent == tmp_path / "usb" and made.suffix == ".fdbk"
    data_key = keys.unlock_with_passphrase(paths.key_file, PASS)

    # Moving to a new PC: restore into an empty data folder, with the recovery key.
    monkeypatch.delenv("FLSDESK_PASSPHRASE")
    monkeypatch.setenv("FLSDESK_RECOVERY_KEY", recovery.lower())
    new_pc = tmp_path / "new-pc"
    assert main(["--data-dir", str(new_pc), "restore", "--yes", str(made)]) == EXIT_OK
    assert "Restored" in capsys.readouterr().out
    assert keys.unlock_with_passphrase(resolve(new_pc).key_file, PASS) == data_key


def test_restore_of_a_damaged_file_is_refused(
    paths: AppPaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _init(monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert main(["backup", str(tmp_path)]) == EXIT_OK
    made = Path(capsys.readouterr().out.strip())
    made.write_bytes(made.read_bytes()[:-100])  # truncated on the way
    before = paths.database.read_bytes(), paths.key_file.read_bytes()
    assert main(["restore", str(made)]) == EXIT_USAGE
    assert "damaged" in capsys.readouterr().err
    assert (paths.database.read_bytes(), paths.key_file.read_bytes()) == before


def test_restore_refused_while_in_use(
    paths: AppPaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _init(monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert main(["backup", str(tmp_path)]) == EXIT_OK
    made = capsys.readouterr().out.strip()
    with StoreLock(paths.data_dir):
        assert main(["restore", "--yes", made]) == EXIT_STORE
    assert "already open" in capsys.readouterr().err


def test_restore_with_the_wrong_passphrase_is_exit_3(
    paths: AppPaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _init(monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert main(["backup", str(tmp_path)]) == EXIT_OK
    made = capsys.readouterr().out.strip()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "not the passphrase")
    assert main(["--data-dir", str(tmp_path / "new"), "restore", "--yes", made]) == EXIT_STORE
    assert "not right" in capsys.readouterr().err
    assert not resolve(tmp_path / "new").database.exists()
