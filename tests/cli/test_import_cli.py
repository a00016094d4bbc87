"""``flsdesk import FILE [--dry-run] [--skip-invalid]`` through the real command line: the report,
the exit codes of the command line (README.md), and a log that never holds a value from the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk import session
from flsdesk.cli import EXIT_ATTENTION, EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store.store import Store
from tests.helpers.import_helpers import NHS_A, NHS_B, WEBTOOL_EXPORT, base_row, write_csv

PASS = "correct horse battery staple"
BAD_DOB = "01/01/1990"


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    p = resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py
    session.create(p, PASS, "AB", "Northtown FLS", "RXX01").store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    return p


def _count(paths: AppPaths) -> int:
    key = session.unlock_key(paths, PASS)
    with Store.open(paths, key, "TS (t)") as store:
        return store.live_count()


def _log(paths: AppPaths) -> str:
    return "".join(f.read_text() for f in paths.log_dir.glob("*.log*"))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    return write_csv(tmp_path, [base_row(NHS_A), base_row(NHS_B, **{"1.02": BAD_DOB})])


def test_import_applies_a_good_file(paths: AppPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(WEBTOOL_EXPORT)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "read as windows-1252" in out and "4 new" in out and "Imported: 4 created" in out
    assert '"Comments": not a question of the dataset' in out
    assert _count(paths) == 4
    # A second run: every row unchanged, still 0.
    assert main(["import", str(WEBTOOL_EXPORT)]) == EXIT_OK
    assert "4 unchanged" in capsys.readouterr().out
    log = _log(paths)
    assert "import applied: 4 created" in log
    for secret in ("4010232137", "9434765919", "Northtown General", "04/03/1950"):
        assert secret not in log


def test_dry_run_changes_nothing(paths: AppPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "--dry-run", str(WEBTOOL_EXPORT)]) == EXIT_OK
    assert "Dry run: nothing was changed." in capsys.readouterr().out
    assert _count(paths) == 0


def test_rejected_rows_exit_1_and_nothing_is_applied(
    paths: AppPaths, mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(mixed)]) == EXIT_ATTENTION
    captured = capsys.readouterr()
    assert 'line 3, column "1.02 DOB"' in captured.out and f'(value "{BAD_DOB}")' in captured.out
    assert "nothing was imported" in captured.err and "--skip-invalid" in captured.err
    assert _count(paths) == 0
    assert main(["import", "--dry-run", str(mixed)]) == EXIT_ATTENTION
    assert _count(paths) == 0
    log = _log(paths)
    assert BAD_DOB not in log and NHS_B not in log and NHS_A not in log


def test_skip_invalid_applies_the_good_rows_and_still_exits_1(
    paths: AppPaths, mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "--skip-invalid", str(mixed)]) == EXIT_ATTENTION
    assert "Imported: 1 created, 0 updated, 0 unchanged; 1 rejected row(s) left out." in (
        capsys.readouterr().out
    )
    assert _count(paths) == 1


def test_unreadable_file_exits_2(
    paths: AppPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    utf16 = tmp_path / "unicode.csv"
    utf16.write_bytes("1.01 NHSNumber,1.09 X\r\n".encode("utf-16"))
    assert main(["import", str(utf16)]) == EXIT_USAGE
    assert "UTF-16" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.csv")]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    assert _count(paths) == 0


def test_store_that_cannot_be_opened_exits_3(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "not the passphrase")
    assert main(["import", str(WEBTOOL_EXPORT)]) == EXIT_STORE
    assert "Traceback" not in capsys.readouterr().err


def test_no_store_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    code = main(["--data-dir", str(tmp_path / "none"), "import", str(WEBTOOL_EXPORT)])
    assert code == EXIT_STORE
