"""A report made before another export was saved, sent or discarded is not written: on either
engine (another window, or another PC of the team), its "since the last export" may be out of
date. Nothing is written, and preparing again gives the right rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    clock_fixture,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import add_golden


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_a_report_older_than_another_export_is_not_written(store: Store, out_dir: Path) -> None:
    add_golden(store)
    first = ex.prepare(store, ex.Scope.since_last())
    second = ex.prepare(store, ex.Scope.since_last())
    written = ex.write(store, second, out_dir / "second.csv")
    with pytest.raises(ex.ExportSuperseded, match="prepare the export again"):
        ex.write(store, first, out_dir / "first.csv")
    assert not (out_dir / "first.csv").exists()
    assert [b.batch_id for b in batches.list_batches(store)] == [written.batch_id]
    # Prepared again, it names the other file, not yet marked uploaded, whose rows go again.
    again = ex.prepare(store, ex.Scope.since_last())
    assert [u.batch.batch_id for u in again.unconfirmed] == [written.batch_id]


def test_a_report_older_than_a_batch_marked_uploaded_is_not_written(
    store: Store, out_dir: Path
) -> None:
    add_golden(store)
    written = ex.write(store, ex.prepare(store, ex.Scope.since_last()), out_dir / "1.csv")
    stale = ex.prepare(store, ex.Scope.since_last())
    assert stale.going  # the file is not marked uploaded yet: its rows would go again
    assert written.batch_id is not None
    batches.mark_uploaded(store, written.batch_id, store.today())
    with pytest.raises(ex.ExportSuperseded):
        ex.write(store, stale, out_dir / "2.csv")
    assert not (out_dir / "2.csv").exists()
    assert ex.prepare(store, ex.Scope.since_last()).is_empty  # they were sent: nothing to go


def test_the_one_shot_export_writes_what_it_prepared(store: Store, out_dir: Path) -> None:
    ids = add_golden(store)
    plan, result = ex.export(store, ex.Scope.all(), out_dir / "all.csv")
    assert result is not None and result.records == len(plan.going) > 0
    assert {r.record_id for r in plan.going} <= set(ids)
