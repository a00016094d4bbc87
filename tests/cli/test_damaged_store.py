"""Issue 11 point 2: an empty or missing database is a damaged store, never a new one.

Reproduced as found: a real store made by ``flsdesk init``, real records, real automatic backups,
then ``flsdesk.db`` truncated to 0 bytes (or removed, or overwritten) and the ordinary commands
run through the command line.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main, prompts
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import backup, engine, keys
from flsdesk.store.errors import StoreDamaged
from tests.helpers.store_cases import (
    PASS,
    add_records,
    automatic_backups,
    data_key,
    init_store,
    record_count,
)


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    return resolve(tmp_path / "data")


@pytest.fixture
def store_with_backups(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AppPaths:
    """A store of 12 records with its seven automatic backups, as weeks of closing leave."""
    init_store(paths, monkeypatch, capsys)
    add_records(paths, 12)
    for _ in range(backup.KEEP_AUTOMATIC):
        backup.rotating_backup_on_close(paths, data_key(paths))
    return paths


def _run(paths: AppPaths, *args: str) -> int:
    return main(["--data-dir", str(paths.data_dir), *args])


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("truncate", "empty (0 bytes)"),
        ("remove", "is missing"),
        ("cut", "cut short"),
        ("garbage", "cannot be read with the store's own key"),
    ],
)
def test_a_damaged_database_is_exit_3_naming_the_latest_backup(
    store_with_backups: AppPaths,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    words: str,
) -> None:
    paths = store_with_backups
    if damage == "truncate":
        paths.database.write_bytes(b"")
    elif damage == "remove":
        paths.database.unlink()
    elif damage == "cut":
        paths.database.write_bytes(paths.database.read_bytes()[:5000])
    else:
        paths.database.write_bytes(os.urandom(8 * 4096))
    latest = backup.automatic_backups(paths.backups_dir)[-1]
    kept = automatic_backups(paths)
    key_before = paths.key_file.read_bytes()
    capsys.readouterr()

    for args in (["followups"], ["backup", str(tmp_path / "usb")]):
        assert _run(paths, *args) == EXIT_STORE, args
        err = capsys.readouterr().err
        assert "damaged" in err and words in err, err
        assert str(latest) in err and "flsdesk restore" in err, err

    # Never a new store: init refuses and leaves the key file alone; nothing was backed up.
    # (Garbage of whole pages cannot be told from a store without the key: init says a store
    # is there, which refuses just as well.)
    refused = "already exists" if damage == "garbage" else "damaged"
    assert _run(paths, "init", "--site", "Other") == (
        EXIT_USAGE if damage == "garbage" else EXIT_STORE
    )
    assert refused in capsys.readouterr().err
    assert paths.key_file.read_bytes() == key_before
    assert not (tmp_path / "usb").exists() or not list((tmp_path / "usb").glob("*.fdbk"))
    with pytest.raises(StoreDamaged):
        backup.rotating_backup_on_close(paths, data_key(paths))
    assert automatic_backups(paths) == kept


def test_the_named_backup_restores_the_records(
    store_with_backups: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_with_backups
    paths.database.write_bytes(b"")
    assert _run(paths, "followups") == EXIT_STORE
    named = [w.strip("'.,:") for w in capsys.readouterr().err.split() if w.endswith(".fdbk'.")]
    assert named, "no backup named"
    assert _run(paths, "restore", "--yes", named[0]) == EXIT_OK
    out = capsys.readouterr().out
    assert "holds 12 records" in out
    assert record_count(paths) == 12
    assert _run(paths, "followups") == EXIT_OK


def test_rotation_keeps_backups_holding_more_records_unless_asked(
    store_with_backups: AppPaths, caplog: pytest.LogCaptureFixture
) -> None:
    paths = store_with_backups
    key = data_key(paths)
    richest = backup.automatic_backups(paths.backups_dir)
    # The store loses most of its records (what an emptied or wrongly restored store looks like).
    conn = engine.connect(paths.database, key)
    conn.execute("DELETE FROM records WHERE id > 2")
    conn.commit()
    conn.close()

    with caplog.at_level(logging.WARNING, logger="flsdesk.store"):
        backup.rotating_backup_on_close(paths, key)
    assert richest[0].exists(), "a backup with more records was rotated away"
    assert "hold more records (up to 12) than the store now does (2)" in caplog.text
    assert "kept them" in caplog.text

    asked: list[backup.RicherBackups] = []

    def refuse(question: backup.RicherBackups) -> bool:
        asked.append(question)
        return False

    backup.rotating_backup_on_close(paths, key, ask=refuse)
    assert asked and asked[0].store_records == 2
    assert {p for p, _ in asked[0].backups} == set(richest[:2])
    assert all(count == 12 for _, count in asked[0].backups)
    assert richest[0].exists() and richest[1].exists()

    backup.rotating_backup_on_close(paths, key, ask=lambda q: True)
    assert not richest[0].exists() and not richest[2].exists()
    assert len(backup.automatic_backups(paths.backups_dir)) == backup.KEEP_AUTOMATIC


def test_restore_refuses_a_backup_holding_no_schema(
    store_with_backups: AppPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_with_backups
    key = data_key(paths)
    # A backup of an empty database, as the old code wrote of a truncated store.
    empty_db = tmp_path / "empty.db"
    engine.connect(empty_db, key, wal=False).close()
    made = tmp_path / "empty.fdbk"
    backup._write_container(made, empty_db, keys.read_key_document(paths.key_file))
    before = paths.database.read_bytes(), paths.key_file.read_bytes()
    capsys.readouterr()
    assert _run(paths, "restore", "--yes", str(made)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "empty database" in err and "Nothing was changed" in err
    assert (paths.database.read_bytes(), paths.key_file.read_bytes()) == before
    assert record_count(paths) == 12


def test_restore_without_a_terminal_needs_yes(
    store_with_backups: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_with_backups
    made = backup.automatic_backups(paths.backups_dir)[-1]
    add_records(paths, 3, start=100)
    before = paths.database.read_bytes()
    capsys.readouterr()
    assert _run(paths, "restore", str(made)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--yes" in err and "holds 12 records" in err
    assert paths.database.read_bytes() == before
    assert record_count(paths) == 15


@pytest.mark.parametrize(("answer", "restored"), [("n\n", False), ("y\n", True)])
def test_restore_on_a_terminal_shows_the_backup_and_asks(
    store_with_backups: AppPaths,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    restored: bool,
) -> None:
    paths = store_with_backups
    made = backup.automatic_backups(paths.backups_dir)[-1]
    created = backup.read_info(made).created
    add_records(paths, 3, start=100)
    monkeypatch.setattr(prompts, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    capsys.readouterr()
    code = _run(paths, "restore", str(made))
    out = capsys.readouterr().out
    assert f"was made {created} and holds 12 records" in out
    assert "Replace the store" in out
    assert code == (EXIT_OK if restored else EXIT_USAGE)
    assert record_count(paths) == (12 if restored else 15)


def test_passphrase_still_opens_after_refusals(store_with_backups: AppPaths) -> None:
    # The refusals above never touch the key file: the passphrase keeps opening the store.
    assert keys.unlock_with_passphrase(store_with_backups.key_file, PASS)
    assert record_count(store_with_backups) == 12


def test_the_wizard_path_never_creates_over_a_damaged_store(
    store_with_backups: AppPaths,
) -> None:
    """session.create (what the wizard calls) refuses like init, with the backup to restore."""
    from flsdesk import session

    paths = store_with_backups
    paths.database.unlink()
    key_before = paths.key_file.read_bytes()
    with pytest.raises(StoreDamaged, match="is missing") as refused:
        session.create(paths, "another long passphrase", "AB", "Other FLS", "RX2")
    assert "flsdesk restore" in str(refused.value)
    assert paths.key_file.read_bytes() == key_before and not paths.database.exists()
