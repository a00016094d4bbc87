""" "Since the last export": exactly the rows that would now be written differently, or never were;
and the records deleted here since they were sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import add_golden, golden_records, held_back_records


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _write_sent(store: Store, plan: ex.ExportPlan, path: Path) -> ex.ExportResult:
    """Save the file and mark it uploaded in the webtool: only then are its rows sent."""
    result = ex.write(store, plan, path)
    assert result.batch_id is not None
    batches.mark_uploaded(store, result.batch_id, store.today())
    return result


def _going(store: Store) -> list[int]:
    return sorted(r.record_id for r in ex.prepare(store, ex.Scope.since_last()).going)


def test_picks_up_exactly_the_changed_rows(store: Store, out_dir: Path, clock: FakeClock) -> None:
    ids = add_golden(store)
    records = golden_records()
    assert _going(store) == sorted(ids)  # never written: all of them
    _write_sent(store, ex.prepare(store, ex.Scope.since_last()), out_dir / "1.csv")
    assert _going(store) == []

    clock.advance(days=3)
    # A visible answer changes the row.
    store.save(ids[2], {**records[2], "2.05": "Yes"}, reason="typo")
    # A hidden answer (6.06 on a hip record) does not: the row is the same.
    store.save(ids[1], {**records[1], "6.06": "No"}, reason="typo")
    # A local-only field does not either.
    store.save(ids[0], {**records[0], "notes": "phoned the GP"}, reason="note")
    # Saving the same answers again changes nothing.
    store.save(ids[3], records[3])
    new = store.new_record({**records[2], "1.01": nhs_number(111222333), "1.09": "2024-05-05"})
    assert _going(store) == [ids[2], new]
    plan = ex.prepare(store, ex.Scope.since_last())
    assert plan.unchanged == 4

    _write_sent(store, plan, out_dir / "2.csv")
    assert _going(store) == []
    # An edit back to what was sent in the first export is still a change from the last row.
    store.save(ids[2], records[2], reason="undo")
    assert _going(store) == [ids[2]]


def test_a_held_back_record_goes_once_fixed(store: Store, out_dir: Path) -> None:
    add_golden(store)
    bad = held_back_records()[0]
    rid = store.new_record(bad)
    plan = ex.prepare(store, ex.Scope.since_last())
    assert [r.record_id for r in plan.held_back] == [rid]
    _write_sent(store, plan, out_dir / "1.csv")
    plan = ex.prepare(store, ex.Scope.since_last())
    assert [r.record_id for r in plan.held_back] == [rid]  # still never sent: still reported
    store.save(rid, {**bad, "1.01": nhs_number(777888999)}, reason="corrected")
    assert _going(store) == [rid]


def test_deleted_since_sent_for_reconciliation(store: Store, out_dir: Path, clock) -> None:
    ids = add_golden(store)
    never_sent = store.new_record(held_back_records()[0])
    _write_sent(store, ex.prepare(store, ex.Scope.all()), out_dir / "1.csv")
    store.delete(ids[1], "Duplicate")
    store.delete(ids[2], "Test record")
    store.delete(never_sent, "Test record")
    plan = ex.prepare(store, ex.Scope.since_last())
    gone = {d.record_id: d for d in plan.deleted_since_sent}
    assert set(gone) == {ids[1], ids[2]}
    assert gone[ids[1]].nhs_number == golden_records()[1]["1.01"]
    assert gone[ids[1]].reason == "Duplicate" and not gone[ids[1]].purged
    # A deletion is reported in the next export's batch, then no more.
    store.save(ids[0], {**golden_records()[0], "2.04": "No"}, reason="x")
    _write_sent(store, ex.prepare(store, ex.Scope.since_last()), out_dir / "2.csv")
    assert ex.prepare(store, ex.Scope.since_last()).deleted_since_sent == []
    [latest, _first] = batches.list_batches(store)
    assert latest.record_count == 1


def test_a_purged_record_is_still_reported_without_its_nhs_number(
    store: Store, out_dir: Path, clock: FakeClock
) -> None:
    ids = add_golden(store)
    _write_sent(store, ex.prepare(store, ex.Scope.all()), out_dir / "1.csv")
    store.delete(ids[4], "Test record")
    clock.advance(days=31)
    store.purge_expired()
    [gone] = ex.prepare(store, ex.Scope.all()).deleted_since_sent
    assert gone.record_id == ids[4] and gone.purged and gone.nhs_number is None
