"""``flsdesk kpi`` and ``flsdesk completeness`` (spec/cli.md): the table, the CSV (one row per
KPI, the KPI number first), the missed list, exit codes, and a log without NHS numbers."""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import date
from pathlib import Path

import pytest

from flsdesk import session
from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.kpi.definitions import load_kpis
from flsdesk.paths import resolve
from tests.helpers.conftest_records import complete_answers, nhs_number

PASSPHRASE = "correct horse battery staple"
NHS = [nhs_number(500_000_000 + 1000 * n) for n in range(3)]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch):
    """Three records of 2024, all past every KPI window today: a wrist fracture assessed on day
    20; one never assessed (a draft); a spine fracture assessed on day 20."""
    paths = resolve(None)
    created = session.create(paths, PASSPHRASE, "AB", "Northtown FLS", "RXX01")
    store = created.store
    store.new_record(complete_answers(NHS[0], date(2024, 1, 10)))
    missing = complete_answers(NHS[1], date(2024, 2, 1))
    del missing["1.07"]
    store.new_record(missing)
    store.new_record(complete_answers(NHS[2], date(2024, 3, 1), **{"1.11": "Spine"}))
    store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    return paths


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _log(paths) -> str:
    return "".join(p.read_text() for p in paths.log_dir.glob("*.log*"))


def test_kpi_csv_one_row_per_kpi(paths, tmp_path: Path, capsys) -> None:
    out = tmp_path / "kpis.csv"
    assert main(["kpi", "--year", "2024", "--csv", str(out)]) == EXIT_OK
    rows = _csv(out)
    assert rows[0] == [
        "KPI",
        "Name",
        "Numerator",
        "Denominator",
        "Percentage",
        "Band",
        "Not yet due",
    ]
    assert [r[0] for r in rows[1:]] == [str(n) for n in range(1, 12)]
    by = {r[0]: r for r in rows[1:]}
    assert by["3"] == ["3", "Spine fractures", "1", "3", "33.3", "green", "0"]
    assert by["4"] == ["4", "Assessment within 90 days", "2", "3", "66.7", "amber", "0"]
    assert by["7"] == ["7", "Bone treatment recommended", "3", "3", "100.0", "green", "0"]
    # No caseload in Settings: KPI 2 has no percentage, and the message says why.
    assert by["2"][4:6] == ["", "no data"]
    # KPI 1: 1.07 is missing in one record of three (33 % > 20 %): one weak field, of the 14
    # lite questions that apply (the 12 always asked, then 6.01 and 7.01 as time has passed;
    # 3.03 and 6.02-7.05 are hidden by "Not ordered" and the follow-up answers "No").
    assert by["1"][2:4] == ["1", "14"] and by["1"][5] == "green"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    err = capsys.readouterr().err
    assert "3 record(s)" in err and "No estimated annual caseload" in err


def test_kpi_table_default_period_is_this_year(paths, capsys) -> None:
    assert main(["kpi"]) == EXIT_OK
    captured = capsys.readouterr()
    out = captured.out
    assert "Assessment within 90 days" in out and "no data" in out
    this_year = date.today().year
    assert f"01/01/{this_year}" in captured.err and "0 record(s)" in captured.err


def test_kpi_table_for_a_period(paths, capsys) -> None:
    assert main(["kpi", "--from", "2024-01-01", "--to", "2024-02-29"]) == EXIT_OK
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("4 "))
    assert "50.0 %" in line and "1/2" in line and "amber" in line
    assert "70 %" in line  # the national average beside it


def test_missing_lists_the_records_a_kpi_misses(paths, tmp_path: Path, capsys) -> None:
    assert main(["kpi", "--year", "2024", "--missing", "4"]) == EXIT_OK
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 2  # the header and one record
    assert "NHS number" in lines[0]
    nhs = NHS[1]
    assert f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" in lines[1] and "01/02/2024" in lines[1]
    assert "no FLS assessment recorded within 90 days" in lines[1]
    out_csv = tmp_path / "missed.csv"
    assert main(["kpi", "--year", "2024", "--missing", "4", "--csv", str(out_csv)]) == EXIT_OK
    rows = _csv(out_csv)
    assert rows[0] == ["Record", "NHS number", "Fracture date", "What is missing"]
    assert len(rows) == 2 and rows[1][2] == "01/02/2024"
    assert stat.S_IMODE(os.stat(out_csv).st_mode) == 0o600
    # What the user asked to see is printed; the log never holds it.
    log = _log(paths)
    for number in NHS:
        assert number not in log


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["kpi", "--missing", "12"], "There is no KPI 12"),
        (["kpi", "--missing", "1"], "no list"),
        (["kpi", "--missing", "x"], "not a KPI number"),
        (["kpi", "--from", "2024-01-01"], "go together"),
        (["kpi", "--year", "2024", "--from", "2024-01-01", "--to", "2024-02-01"], "not both"),
        (["kpi", "--from", "2024-03-01", "--to", "2024-02-01"], "before it starts"),
        (["kpi", "--from", "01/03/2024", "--to", "2024-04-01"], "YYYY-MM-DD"),
        (["kpi", "--year", "24"], "not a year"),
        (["completeness", "--year", "twenty"], "not a year"),
        (["kpi", "--csv", "/no/such/folder/k.csv"], "no such folder"),
    ],
)
def test_usage_errors_are_exit_2(paths, capsys, argv: list[str], words: str) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err


def test_no_store_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    empty = tmp_path / "nothing"
    assert main(["--data-dir", str(empty), "kpi"]) == EXIT_STORE
    assert main(["--data-dir", str(empty), "completeness"]) == EXIT_STORE
    assert "Traceback" not in capsys.readouterr().err


def test_a_broken_kpi_override_is_exit_2(paths, capsys) -> None:
    paths.overrides_dir.mkdir(parents=True, exist_ok=True)
    bundled = load_kpis()
    text = bundled.path.read_text(encoding="utf-8").replace('formula = "share"', 'formula = "x"', 1)
    (paths.overrides_dir / bundled.path.name).write_text(text, encoding="utf-8")
    assert main(["kpi"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "KPI 3: 'formula' is 'x'" in err
    assert main(["definitions"]) == 1
    assert "HAS PROBLEMS" in capsys.readouterr().out


def test_definitions_lists_and_checks_the_kpi_file(paths, capsys) -> None:
    assert main(["definitions"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "kpi:" in out and "flsdb-kpis.toml" in out
    assert main(["definitions", "--check", str(load_kpis().path)]) == EXIT_OK
    assert "11 KPIs" in capsys.readouterr().out


def test_completeness_csv_worst_first(paths, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gaps.csv"
    assert main(["completeness", "--year", "2024", "--csv", str(out)]) == EXIT_OK
    rows = _csv(out)
    assert rows[0] == ["Question", "Label", "Lacking", "Applies to", "Share lacking"]
    assert rows[1][0] == "1.07" and rows[1][2:] == ["1", "3", "33.3 %"]
    assert all(r[2] == "0" for r in rows[2:])
    assert main(["completeness", "--year", "2024"]) == EXIT_OK
    assert "Date of FLS assessment" in capsys.readouterr().out
