"""``flsdesk export`` and ``flsdesk upload``: exit codes, the report on the terminal, and a log
that never holds an NHS number."""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk import session
from flsdesk.cli import main
from flsdesk.exchange import batches
from flsdesk.paths import resolve
from tests.helpers.conftest_records import nhs_number
from tests.helpers.export_records import GOLDEN, golden_records, held_back_records

PASSPHRASE = "correct horse battery staple"
RESOURCES = GOLDEN.parent.parent.parent / "resources"


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch):
    paths = resolve(None)
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    for answers in golden_records():
        created.store.new_record(answers)
    created.store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    return paths


def _store(paths):
    return session.open_store(paths, session.unlock_key(paths, PASSPHRASE), "AB")


def _log(paths) -> str:
    return "".join(p.read_text() for p in paths.log_dir.glob("*.log*"))


def test_export_all_then_since_last(paths, tmp_path: Path, capsys) -> None:
    out = tmp_path / "export.csv"
    assert main(["export", "--all", "--out", str(out)]) == 0
    assert out.read_bytes() == (GOLDEN / "golden-number_and_short_name.csv").read_bytes()
    printed = capsys.readouterr().out
    assert "5 going, 0 held back" in printed and "batch" in printed
    assert "profile" not in printed  # no file-format jargon in the summary
    # Saved is not sent: the same five go again, and the report says why.
    again = tmp_path / "again.csv"
    assert main(["export", "--since-last", "--out", str(again), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "5 going" in printed
    assert "5 record(s) are in the file of" in printed and "not marked as uploaded" in printed
    # Marked as uploaded in the webtool: now nothing changed, nothing to write, exit 0.
    assert main(["outbox", "--mark-uploaded", "1"]) == 0
    assert main(["export", "--since-last", "--out", str(again)]) == 0
    assert "Nothing to export" in capsys.readouterr().out and not again.exists()
    assert main(["export", "--month", "2024-02", "--out", str(again)]) == 0
    assert again.read_bytes().count(b"\r\n") == 3


def test_held_back_exit_1_printed_not_logged(paths, tmp_path: Path, capsys) -> None:
    with _store(paths) as s:
        for answers in held_back_records():
            s.new_record(answers)
    out = tmp_path / "export.csv"
    assert main(["export", "--all", "--out", str(out), "--dry-run"]) == 1
    printed = capsys.readouterr().out
    assert "Held back" in printed and "1234567890" in printed
    # Which error, not just "Needs correction"; the unchecked record says so in words (a new
    # store requires the opt-out check).
    assert "This is not a valid NHS number" in printed
    assert "Not yet checked against the National Data Opt-out list" in printed
    assert "profile" not in printed
    assert "Dry run: 5 record(s)" in printed and not out.exists()
    log = _log(paths)
    assert "export prepared" in log and "1234567890" not in log
    for answers in golden_records() + held_back_records():
        assert str(answers["1.01"]) not in log or answers["1.01"] == "OVERSEAS"
    with _store(paths) as s:
        assert batches.list_batches(s) == []


def test_usage_errors(paths, tmp_path: Path) -> None:
    assert main(["export", "--month", "2024-13", "--out", str(tmp_path / "x.csv")]) == 2
    assert main(["export", "--all"]) == 2  # --out is required
    assert main(["export", "--all", "--since-last", "--out", "x.csv"]) == 2
    assert main(["export", "--all", "--out", str(tmp_path / "no" / "x.csv")]) == 2
    assert main(["export", "--all", "--profile", "nope", "--out", str(tmp_path / "x.csv")]) == 2


def test_unencodable_names_the_record(paths, tmp_path: Path, capsys) -> None:
    override = paths.overrides_dir
    override.mkdir(parents=True)
    text = (RESOURCES / "export-profiles/flsdb-webtool.toml").read_text()
    text = text.replace('id = "flsdb-webtool"', 'id = "cp1252"').replace(
        'encoding = "utf-8"', 'encoding = "windows-1252"'
    )
    (override / "cp1252.toml").write_text(text)
    with _store(paths) as s:
        rid = s.new_record(
            {**golden_records()[2], "1.01": nhs_number(123123123), "1.04": "ŁD1 1AA"}
        )
    out = tmp_path / "x.csv"
    assert main(["export", "--all", "--profile", "cp1252", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"Record {rid}, question 1.04" in err and not out.exists()


def test_upload_exit_codes(paths, tmp_path: Path, httpserver, capsys) -> None:
    out = tmp_path / "export.csv"
    assert main(["export", "--all", "--out", str(out)]) == 0
    assert main(["upload", str(out)]) == 2  # no upload address yet
    assert "Settings" in capsys.readouterr().err
    assert main(["upload", str(tmp_path / "missing.csv")]) == 2
    # One attempt only, so the failure is quick.
    paths.overrides_dir.mkdir(parents=True)
    text = (RESOURCES / "upload-profiles/https-multipart.toml").read_text()
    (paths.overrides_dir / "https-multipart.toml").write_text(
        text.replace("max_attempts = 5", "max_attempts = 1")
    )
    with _store(paths) as s:
        s.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_ordered_request("/up").respond_with_data("nope", status=503)
    httpserver.expect_ordered_request("/up").respond_with_json({"receipt": "R9"}, status=200)
    assert main(["upload", str(out)]) == 1
    assert "Not sent" in capsys.readouterr().out
    assert main(["upload", str(out)]) == 0
    assert "R9" in capsys.readouterr().out
    with _store(paths) as s:
        [batch] = batches.list_batches(s)
        assert batch.state == batches.SENT and batch.attempts == 2
