"""``flsdesk outbox [--mark-uploaded ID [--on YYYY-MM-DD]] [--discard ID]`` (spec/cli.md)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from flsdesk import session
from flsdesk.cli import main
from flsdesk.exchange import batches
from flsdesk.paths import resolve
from tests.helpers.export_records import golden_records

PASSPHRASE = "correct horse battery staple"


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


def _export(tmp_path: Path, name: str, capsys) -> None:
    assert main(["export", "--since-last", "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()


def test_list_mark_uploaded_and_discard(paths, tmp_path: Path, capsys) -> None:
    assert main(["outbox"]) == 0
    assert "No export yet" in capsys.readouterr().out
    _export(tmp_path, "one.csv", capsys)
    _export(tmp_path, "two.csv", capsys)  # the same five again: the first was not sent
    assert main(["outbox"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "date", "scope", "rows", "state"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    for line in lines[1:]:
        assert "new or changed" in line and " 5 " in line
        assert "exported (not marked as uploaded)" in line

    yesterday = (date.today() - timedelta(days=1)).isoformat()
    # Uploaded yesterday? The file was saved today: refused, nothing changed.
    assert main(["outbox", "--mark-uploaded", "2", "--on", yesterday]) == 2
    assert "before the file was saved" in capsys.readouterr().err
    assert main(["outbox", "--discard", "1"]) == 0
    assert "Batch 1 is discarded" in capsys.readouterr().out
    assert main(["outbox", "--mark-uploaded", "2", "--on", date.today().isoformat()]) == 0
    assert "Batch 2 is sent" in capsys.readouterr().out
    assert main(["outbox"]) == 0
    listed = capsys.readouterr().out
    assert "discarded" in listed and "sent — Uploaded in the webtool on" in listed
    with _store(paths) as s:
        states = {b.seq: b.state for b in batches.list_batches(s)}
    assert states == {1: batches.DISCARDED, 2: batches.SENT}
    # Marked as sent: nothing left for "since the last export".
    again = tmp_path / "three.csv"
    assert main(["export", "--since-last", "--out", str(again)]) == 0
    assert "Nothing to export" in capsys.readouterr().out and not again.exists()


def test_mistakes_get_exit_2_and_a_clear_message(paths, tmp_path: Path, capsys) -> None:
    _export(tmp_path, "one.csv", capsys)
    assert main(["outbox", "--mark-uploaded", "7"]) == 2
    assert "There is no export batch '7'" in capsys.readouterr().err
    assert main(["outbox", "--mark-uploaded", "1", "--on", "03/11/2026"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["outbox", "--on", date.today().isoformat()]) == 2
    assert "--on goes with --mark-uploaded" in capsys.readouterr().err
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert main(["outbox", "--mark-uploaded", "1", "--on", tomorrow]) == 2
    assert "in the future" in capsys.readouterr().err
    # The two actions exclude each other (argparse's own exit 2).
    assert main(["outbox", "--mark-uploaded", "1", "--discard", "1"]) == 2
    assert "not allowed with" in capsys.readouterr().err
    assert main(["outbox", "--mark-uploaded", "1"]) == 0  # --on defaults to today
    capsys.readouterr()
    assert main(["outbox", "--discard", "1"]) == 2
    assert "already sent" in capsys.readouterr().err
    with _store(paths) as s:
        [batch] = batches.list_batches(s)
        assert batch.state == batches.SENT
        # The batch's own id works too (as the upload's receipt shows it).
        batch_id = batch.batch_id
    assert main(["outbox", "--mark-uploaded", batch_id]) == 2
    assert "already sent" in capsys.readouterr().err
