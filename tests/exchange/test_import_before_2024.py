"""Importing records diagnosed before 2024: the earlier dataset's answers, chosen by 1.09.

The fixture files in tests/fixtures/import/ are shaped like the webtool's 2023 exports seen in the
public ADOPT_FLSDB analysis (1.11 "Non hip/non spine", 4.01 drugs joined by ";", 5.01 "No"), with
the webtool's own record fields from the FAQ 36 screenshot ("Artemis ID", "Fracture Liaison
Service or site name", "Record created by"). Every patient in them is invented.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk import cli, session
from flsdesk.exchange import importer
from flsdesk.paths import resolve
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    FakeClock,
    clock_fixture,
    paths_fixture,
    store_fixture,
)
from tests.helpers.import_helpers import FIXTURES, NHS_A, NHS_B, NHS_C, base_row, write_csv

EXPORT_2023 = FIXTURES / "webtool-export-2023.csv"
SAME_ANSWERS_2024 = FIXTURES / "webtool-export-2024-with-2023-answers.csv"
BEFORE_2024 = "flsdb-v3-before-2024"
PASS = "correct horse battery staple"


def test_a_2023_webtool_export_imports(store: Store) -> None:
    plan = importer.read_plan(store, EXPORT_2023)
    assert plan.counts == {"new": 3, "updated": 0, "unchanged": 0, "rejected": 0}, [
        p.describe() for r in plan.rows for p in r.problems
    ]
    ignored = {c.header: c.how for c in plan.ignored_columns}
    assert ignored == {
        "Artemis ID": "webtool column",
        "Fracture Liaison Service or site name": "webtool column",
        "Record created by": "webtool column",
        "Age Frac diagnosed": "webtool column",
    }
    importer.apply(store, plan)

    first = store.load(1)
    assert first.dataset_id == BEFORE_2024
    assert first.answers["1.01"] == NHS_A
    assert first.answers["1.11"] == "Non hip/non spine"
    assert first.answers["4.01"] == ["Alendronate", "Denosumab"]
    assert first.answers["5.01"] == "Not assessed"  # "No" in the file: the definition's alias
    assert first.status == "Complete" and not first.has_errors

    second = store.load(2)
    assert second.dataset_id == BEFORE_2024
    assert second.answers["1.12"] == "Non hip/non spine"
    assert second.answers["4.01"] == ["Denosumab", "Teriparatide"]  # the definition's order
    assert second.answers["6.05"] == "Don't know"  # "Donít know", the profile's alias

    third = store.load(3)
    assert third.answers["1.01"] == NHS_C and third.answers["5.01"] == "Not assessed"
    # 3.04-3.05 apply after "Already had a recent DXA": the recent scan's values are kept.
    assert third.answers["3.04"] == -3.1 and third.answers["3.05"] == 24
    ev = store.evaluate(third.answers, 3)
    assert ev.applies["3.04"] and ev.effective["3.04"] == -3.1


def test_the_same_2023_answers_for_2024_records_are_still_rejected(store: Store) -> None:
    plan = importer.read_plan(store, SAME_ANSWERS_2024)
    assert plan.counts == {"new": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    first, second, third = plan.rows
    assert first.outcome == second.outcome == importer.REJECTED
    (problem,) = first.problems
    assert (problem.line, problem.column, problem.value) == (
        2,
        "1.11 SiteFirstFrac",
        "Non hip/non spine",
    )
    assert "not one of the answers offered" in problem.reason
    assert [(p.column, p.value) for p in second.problems] == [
        ("1.12 SiteSecFrac", "Non hip/non spine")
    ]
    # What the 2024 dataset does offer still reads: 5.01 "No" is its alias there too.
    assert third.outcome == importer.NEW and third.answers is not None
    assert third.answers["5.01"] == "Not assessed"
    before = store.live_count()
    with pytest.raises(importer.RowsRejected):
        importer.apply(store, plan)
    assert store.live_count() == before  # all or nothing


def test_5_01_no_is_read_as_not_assessed_only_in_5_01(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [base_row(NHS_B, **{"5.01": "No", "1.08": "No"})])
    plan = importer.read_plan(store, path)
    (row,) = plan.rows
    assert row.outcome == importer.NEW, row.problems
    assert row.answers is not None and row.answers["5.01"] == "Not assessed"
    # The alias belongs to 5.01's answer: another question's "Not assessed" gains nothing.
    bad = write_csv(tmp_path, [base_row(NHS_B, **{"5.01": "Nope"})], name="bad.csv")
    (rejected,) = importer.read_plan(store, bad).rows
    assert rejected.outcome == importer.REJECTED
    assert [(p.column, p.value) for p in rejected.problems] == [("5.01 RiskAssesByFLS", "Nope")]


def test_the_command_line_imports_2023_and_rejects_the_2024_twin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py
    session.create(paths, PASS, "AB", "Northtown FLS", "RXX01").store.close()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)

    assert cli.main(["import", "--dry-run", str(SAME_ANSWERS_2024)]) == cli.EXIT_ATTENTION
    out = capsys.readouterr().out
    assert 'line 2, column "1.11 SiteFirstFrac"' in out and '"Non hip/non spine"' in out
    assert '"Artemis ID": the webtool\'s own column' in out
    assert '"Fracture Liaison Service or site name": the webtool\'s own column' in out

    assert cli.main(["import", str(EXPORT_2023)]) == cli.EXIT_OK
    assert "Imported: 3 created" in capsys.readouterr().out
    with Store.open(paths, session.unlock_key(paths, PASS), "TS (t)") as store:
        assert store.live_count() == 3
        assert {store.load(i).dataset_id for i in (1, 2, 3)} == {BEFORE_2024}
