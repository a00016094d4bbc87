"""Issue 11 point 5: damage is found before it reaches the backups.

Reproduced as found: one byte flipped in a real page of a real store file (a page holding rows
of the records table), then ``backup``, ``followups`` and ``export`` through the command line.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import backup, engine, integrity
from flsdesk.store.errors import StoreDamaged
from flsdesk.store.store import Store
from tests.helpers.conftest_records import FakeClock
from tests.helpers.store_cases import (
    add_records,
    automatic_backups,
    data_key,
    flip_byte_in_free_page,
    flip_byte_in_records_page,
    init_store,
)


@pytest.fixture
def paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AppPaths:
    """A store of 40 records with two automatic backups (the last good ones)."""
    paths = resolve(tmp_path / "data")
    init_store(paths, monkeypatch, capsys)
    add_records(paths, 40)
    for _ in range(2):
        backup.rotating_backup_on_close(paths, data_key(paths))
    return paths


def _run(paths: AppPaths, *args: str) -> int:
    return main(["--data-dir", str(paths.data_dir), *args])


def test_a_flipped_byte_stops_backup_followups_and_export(
    paths: AppPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last_good = backup.automatic_backups(paths.backups_dir)[-1]
    # Before the damage every command works (so the exit 3 below is the damage's doing).
    assert _run(paths, "followups") == EXIT_OK
    flip_byte_in_records_page(paths)
    kept = automatic_backups(paths)
    capsys.readouterr()

    assert _run(paths, "backup", str(tmp_path / "usb")) == EXIT_STORE
    err = capsys.readouterr().err
    assert "damaged" in err and "no backup was written" in err
    assert str(last_good) in err, err  # the message names the last good backup
    assert not list((tmp_path / "usb").glob("*.fdbk"))

    assert _run(paths, "followups") == EXIT_STORE
    err = capsys.readouterr().err
    assert "fails its integrity check" in err and str(last_good) in err
    out_csv = tmp_path / "out.csv"
    assert _run(paths, "export", "--all", "--out", str(out_csv)) == EXIT_STORE
    assert "damaged" in capsys.readouterr().err
    assert not out_csv.exists()

    # Nor does the rotating backup on close carry the damage into the backups folder.
    with pytest.raises(StoreDamaged, match=str(last_good)):
        backup.rotating_backup_on_close(paths, data_key(paths))
    assert automatic_backups(paths) == kept


def test_a_flipped_byte_in_a_free_page_is_found_by_the_full_check(paths: AppPaths) -> None:
    """quick_check reads the pages in use only; the full check (before every backup) reads every
    page's HMAC, free pages included."""
    key = data_key(paths)
    flip_byte_in_free_page(paths, key)

    conn = engine.connect(paths.database, key)
    try:
        assert integrity.quick_check(conn).ok  # what quick_check cannot see
        full = integrity.full_check(conn)
    finally:
        conn.close()
    assert not full.ok and "HMAC" in full.problems[0]
    with pytest.raises(StoreDamaged):
        backup.backup_to_folder(paths, key, paths.data_dir.parent / "usb")


def test_the_quick_check_is_time_boxed(paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small store is checked within one look at the clock; look at it every few steps.
    monkeypatch.setattr(integrity, "_PROGRESS_STEPS", 10)
    conn = engine.connect(paths.database, data_key(paths))
    try:
        cut = integrity.quick_check(conn, budget_s=-1.0)  # already out of time
        whole = integrity.quick_check(conn, budget_s=600.0)
        # The time box is lifted afterwards: the connection works as before.
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 40
    finally:
        conn.close()
    assert not cut.complete and cut.ok
    assert whole.complete and whole.ok


def test_the_full_check_is_recorded_and_due_daily(paths: AppPaths) -> None:
    clock = FakeClock()
    with Store.open(paths, data_key(paths), "TS (tester)", clock=clock) as store:
        assert store.full_check_due()
        assert store.full_check().ok
        assert not store.full_check_due()
        clock.advance(hours=6)
        assert not store.full_check_due()
        clock.advance(days=1)
        assert store.full_check_due()
    with Store.open(paths, data_key(paths), "TS (tester)", clock=clock) as store:
        assert store.full_check_due()  # the date is kept in the store, not in memory
        store.full_check()
    clock.moment += timedelta(minutes=1)
    with Store.open(paths, data_key(paths), "TS (tester)", clock=clock) as store:
        assert not store.full_check_due()


def test_backups_record_their_check_and_count(paths: AppPaths) -> None:
    info = backup.read_info(backup.automatic_backups(paths.backups_dir)[-1])
    assert info.records == 40
