"""A NUL character in a row cache's sort key (built from answers as typed, which may hold one
pasted from another program) never stops an export, on either engine: PostgreSQL's text cannot
hold a NUL, and the cache's rows go to it by COPY, past the store's own column types."""

from __future__ import annotations

from pathlib import Path

from flsdesk.exchange import export as ex
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import CHECKED


def test_a_nul_in_a_sort_key_does_not_stop_the_export(store: Store, tmp_path: Path) -> None:
    rid = store.new_record({**complete_answers(nhs_number(812345670)), **CHECKED})
    plan = ex.prepare(store, ex.Scope.all())
    [update] = plan.cache_updates
    assert update[0] == rid
    plan.cache_updates = [(*update[:5], update[5] + "\x00typed")]
    result = ex.write(store, plan, tmp_path / "all.csv")
    assert result.records == 1
    with store.engine.connect() as conn:
        [key] = conn.exec_driver_sql("SELECT sort_key FROM export_row_cache").scalars().all()
    assert key.startswith(update[5]) and key.endswith("typed")
    # The cached row serves the next export.
    again = ex.prepare(store, ex.Scope.all())
    assert [r.record_id for r in again.going] == [rid] and not again.cache_updates
