"""Issue 11.1: a command can never write over the store. Each case is the command line that
replaced a store file with plaintext CSV when it was found (exit 0); now each exits 2 with a
message saying why, and the store still opens with every record."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flsdesk import files, session
from flsdesk.cli import main
from flsdesk.exchange import batches
from flsdesk.exchange import optout as oo
from flsdesk.paths import AppPaths, resolve
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.export_records import golden_records

PASSPHRASE = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[2]
# The golden records, and one whose opt-out is not yet checked (so there is an opt-out list).
RECORDS = [*golden_records(), complete_answers(nhs_number(300000001))]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    paths = resolve(None)
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    for answers in RECORDS:
        created.store.new_record(answers)
    created.store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    # Logs, so that the log folder and its files exist as they do after any command.
    assert main(["followups"]) == 0
    return paths


def _fingerprint(paths: AppPaths) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (paths.key_file, paths.database)
    }


def _assert_store_intact(paths: AppPaths, before: dict[str, str]) -> None:
    assert _fingerprint(paths) == before
    with session.open_store(paths, session.unlock_key(paths, PASSPHRASE), "AB") as store:
        assert store.live_count() == len(RECORDS)
        assert batches.list_batches(store) == []  # no export was recorded either


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    return err


def test_export_onto_the_key_file(paths: AppPaths, capsys) -> None:
    before = _fingerprint(paths)
    _refused(
        ["export", "--all", "--out", str(paths.key_file)],
        capsys,
        "flsdesk.key",
        "destroy the store",
    )
    _assert_store_intact(paths, before)


def test_followups_csv_onto_the_key_file(paths: AppPaths, capsys) -> None:
    before = _fingerprint(paths)
    _refused(["followups", "--csv", str(paths.key_file)], capsys, "flsdesk.key")
    _assert_store_intact(paths, before)


def test_export_and_call_sheet_onto_the_database(paths: AppPaths, capsys) -> None:
    before = _fingerprint(paths)
    _refused(["export", "--all", "--out", str(paths.database)], capsys, "flsdesk.db")
    _refused(["followups", "--csv", str(paths.database)], capsys, "flsdesk.db")
    _assert_store_intact(paths, before)


def test_into_the_logs_folder_or_the_data_folder(paths: AppPaths, capsys) -> None:
    before = _fingerprint(paths)
    for target in (paths.log_dir / "export.csv", paths.data_dir / "export.csv"):
        _refused(["export", "--all", "--out", str(target)], capsys, "Choose a file outside")
        _refused(["followups", "--csv", str(target)], capsys, "Choose a file outside")
        assert not target.exists()
    [log] = paths.log_dir.glob("*.log")
    _refused(["followups", "--csv", str(log)], capsys, log.name)
    _assert_store_intact(paths, before)


def test_via_a_symlink(paths: AppPaths, tmp_path: Path, capsys) -> None:
    before = _fingerprint(paths)
    out = tmp_path / "out"
    out.mkdir()
    link = out / "export.csv"
    link.symlink_to(paths.key_file)
    _refused(["export", "--all", "--out", str(link)], capsys, "flsdesk.key")
    _refused(["followups", "--csv", str(link)], capsys, "flsdesk.key")
    # A folder that is a symlink to the data folder is the data folder.
    folder_link = tmp_path / "looks-harmless"
    folder_link.symlink_to(paths.data_dir)
    _refused(["export", "--all", "--out", str(folder_link / "x.csv")], capsys, "data folder")
    assert link.is_symlink() and not (paths.data_dir / "x.csv").exists()
    _assert_store_intact(paths, before)


def test_via_a_hard_link(paths: AppPaths, tmp_path: Path, capsys) -> None:
    before = _fingerprint(paths)
    out = tmp_path / "out"
    out.mkdir()
    for store_file in (paths.key_file, paths.database):
        hard = out / f"innocent-{store_file.suffix[1:]}.csv"
        os.link(store_file, hard)
        _refused(["export", "--all", "--out", str(hard)], capsys, store_file.name)
        _refused(["followups", "--csv", str(hard)], capsys, store_file.name)
        assert hard.stat().st_ino == store_file.stat().st_ino
    _assert_store_intact(paths, before)


def test_the_real_command_line_exits_2(paths: AppPaths) -> None:
    """The same through ``python main.py`` in a process of its own, as it was found."""
    before = _fingerprint(paths)
    command = [sys.executable, str(REPO / "main.py"), "--data-dir", str(paths.data_dir)]
    done = subprocess.run(
        [*command, "export", "--all", "--out", str(paths.key_file)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "flsdesk.key" in done.stderr and done.stdout == ""
    _assert_store_intact(paths, before)


def test_backup_into_the_data_or_log_folder_refused_backups_folder_allowed(
    paths: AppPaths, tmp_path: Path, capsys
) -> None:
    before = _fingerprint(paths)
    for folder in (paths.data_dir, paths.log_dir, paths.data_dir / "new-folder"):
        _refused(["backup", str(folder)], capsys, "backups folder")
    assert not (paths.data_dir / "new-folder").exists()
    assert not list(paths.data_dir.glob("*.fdbk")) and not list(paths.log_dir.glob("*.fdbk"))
    # The data folder's own backups folder is where the automatic backups live: allowed.
    assert main(["backup", str(paths.backups_dir)]) == 0
    assert len(list(paths.backups_dir.glob("*.fdbk"))) == 1
    _assert_store_intact(paths, before)


def test_writers_refuse_by_themselves_once_the_store_is_registered(
    paths: AppPaths, tmp_path: Path
) -> None:
    """atomic_write / private_path refuse without their caller asking (the opt-out list, the
    recovery key, a PDF), after the command line or the window registered the store."""
    files.protect(paths)
    before = _fingerprint(paths)
    with pytest.raises(files.ProtectedTarget, match=r"flsdesk\.key"):
        files.write_text(paths.key_file, "NHS number\r\n")
    with (
        pytest.raises(files.ProtectedTarget, match="data folder"),
        files.private_path(paths.data_dir / "list.pdf"),
    ):
        pass
    key = session.unlock_key(paths, PASSPHRASE)
    with session.open_store(paths, key, "AB") as store, pytest.raises(files.ProtectedTarget):
        oo.write_unchecked_list(store, paths.database)
    assert not list(paths.data_dir.glob(".flsdesk-write-*"))
    _assert_store_intact(paths, before)
    # Elsewhere writes go on as before; an internal writer may say so.
    ok = tmp_path / "fine.csv"
    files.write_text(ok, "x")
    assert ok.read_text() == "x"
    files.atomic_write(paths.data_dir / "internal.txt", [b"ours"], internal=True)
    assert (paths.data_dir / "internal.txt").read_bytes() == b"ours"


def test_refusal_allows_ordinary_places(paths: AppPaths, tmp_path: Path) -> None:
    assert files.refusal(tmp_path / "export.csv", paths) is None
    assert files.refusal(tmp_path, paths, folder=True) is None
    # A name that merely starts like the data folder is not inside it.
    sibling = paths.data_dir.with_name(paths.data_dir.name + "-exports")
    assert files.refusal(sibling / "x.csv", paths) is None
    assert files.refusal(paths.backups_dir, paths, folder=True, allow_backups=True) is None
    assert "data folder" in (files.refusal(paths.backups_dir / "x.csv", paths) or "")
