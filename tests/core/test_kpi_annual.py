"""The readiness lists for a report year (issue 15 point 4): drafts, records needing
correction, follow-ups owed, and records not sent since their last change."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.kpi import annual
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import CHECKED

TODAY = date(2025, 6, 2)  # the store's clock


def _new(store: Store, n: int, diagnosed: date, drop: tuple[str, ...] = (), **extra) -> int:
    answers = complete_answers(nhs_number(300_000_000 + 1000 * n), diagnosed, **CHECKED)
    answers.update({k.replace("_", "."): v for k, v in extra.items()})
    for key in drop:
        answers.pop(key)
    return store.new_record(answers)


def test_readiness_lists(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    sent = _new(store, 1, date(2024, 2, 1))
    changed = _new(store, 2, date(2024, 3, 1))
    draft = _new(store, 3, date(2024, 4, 1), drop=("1.08",))
    wrong = _new(store, 4, date(2024, 5, 1), **{"1.02": "1990-01-01"})
    # Day 336 on 02/06/2025: the 16-week follow-up is missed and the 52-week one due.
    owed = _new(store, 5, date(2024, 7, 1), drop=("6.01", "7.01"))
    other_year = _new(store, 6, date(2023, 6, 1), drop=("1.08",))
    result = ex.write(store, ex.prepare(store, ex.Scope.all()), tmp_path / "a.csv")
    batches.mark_uploaded(store, result.batch_id, TODAY)
    clock.advance(minutes=5)
    answers = dict(store.load(changed).answers)
    answers["1.08"] = "Yes"
    store.save(changed, answers)

    r = annual.readiness(store, 2024, TODAY)
    assert r.year == 2024 and r.deadline == date(2025, 5, 31) and r.days_left is None
    assert [i.record_id for i in r.drafts] == [draft, owed]
    assert "1.08" in r.drafts[0].detail
    assert [i.record_id for i in r.needs_correction] == [wrong]
    assert [(i.record_id, i.tab) for i in r.followups_due] == [(owed, "followup")] * 2
    details = sorted(i.detail for i in r.followups_due)
    assert details[0].startswith("16-week follow-up missed")
    assert details[1].startswith("52-week follow-up due")
    # Sent in the batch and unchanged since: ready. Changed after it, or held back from the
    # export (a draft and a record owing follow-ups may go; an error never): not sent.
    unsent = {i.record_id for i in r.not_exported}
    assert sent not in unsent and changed in unsent
    assert wrong not in unsent  # listed under "needs correction"
    assert other_year not in {i.record_id for i in r.drafts}
    assert not r.ready


def test_an_empty_year_is_ready(store: Store) -> None:
    r = annual.readiness(store, 2019, date(2020, 3, 1))
    assert r.ready and r.days_left == 91
