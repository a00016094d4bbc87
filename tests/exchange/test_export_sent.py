"""Exported is not sent (issue 12.2): a batch is sent once uploaded or marked "uploaded in the
webtool"; a discarded batch's rows go again; "since the last export" means since the last *sent*
row, and the report names the saved files whose rows go again."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.exchange.exporting.status import store_created
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import add_golden, golden_records


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _going(store: Store) -> list[int]:
    return sorted(r.record_id for r in ex.prepare(store, ex.Scope.since_last()).going)


def _save(store: Store, path: Path) -> batches.Batch:
    result = ex.write(store, ex.prepare(store, ex.Scope.since_last()), path)
    found = batches.get_batch(store, str(result.batch_id))
    assert found is not None
    return found


def test_a_saved_file_is_not_sent_and_its_rows_go_again(
    store: Store, out_dir: Path, clock: FakeClock
) -> None:
    ids = add_golden(store)
    first = _save(store, out_dir / "1.csv")
    assert first.state == batches.EXPORTED
    # Not sent: the banner and the reason prompt do not apply, and the rows go again.
    assert not any(ex.was_exported(store, rid) for rid in ids)
    plan = ex.prepare(store, ex.Scope.since_last())
    assert sorted(r.record_id for r in plan.going) == sorted(ids) and plan.unchanged == 0
    day = first.created_at.strftime("%d/%m/%Y")
    [line] = plan.unconfirmed_lines()
    assert line.startswith(f"5 record(s) are in the file of {day} (batch 1)")
    assert "not marked as uploaded" in line and line in plan.summary_line()

    # One record changes and a second file is saved: both files are named in the report.
    clock.advance(days=2)
    store.save(ids[0], {**golden_records()[0], "2.05": "Yes"})
    second = _save(store, out_dir / "2.csv")
    plan = ex.prepare(store, ex.Scope.since_last())
    assert [(u.batch.seq, u.records) for u in plan.unconfirmed] == [(1, 5), (2, 5)]

    # The second file is uploaded in the webtool: everything is sent, nothing goes again.
    batches.mark_uploaded(store, second.batch_id, store.today())
    assert _going(store) == []
    assert all(ex.was_exported(store, rid) for rid in ids)
    assert ex.prepare(store, ex.Scope.since_last()).unconfirmed == []


def test_mark_uploaded_records_the_day_and_refuses_impossible_ones(
    store: Store, out_dir: Path, clock: FakeClock
) -> None:
    add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    today = store.today()
    with pytest.raises(batches.BatchStateError, match="in the future"):
        batches.mark_uploaded(store, batch.batch_id, today + timedelta(days=1))
    with pytest.raises(batches.BatchStateError, match="before the file was saved"):
        batches.mark_uploaded(store, batch.batch_id, today - timedelta(days=1))
    assert batches.get_batch(store, batch.batch_id).state == batches.EXPORTED  # type: ignore[union-attr]
    clock.advance(days=5)
    marked = batches.mark_uploaded(store, batch.batch_id, today + timedelta(days=2))
    assert marked.state == batches.SENT
    assert marked.receipt == (
        f"Uploaded in the webtool on {today + timedelta(days=2):%d/%m/%Y} (marked by {store.user})"
    )
    # The status bar counts from the day it was uploaded, not the day the file was saved.
    assert ex.days_since_last_sent(store, store.today()) == 3
    with pytest.raises(batches.BatchStateError, match="already sent"):
        batches.mark_uploaded(store, batch.batch_id, store.today())
    with pytest.raises(batches.BatchStateError, match="already sent"):
        batches.discard(store, batch.batch_id)


def test_a_discarded_file_never_counts_and_its_rows_go_again(store: Store, out_dir: Path) -> None:
    ids = add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    assert batches.discard(store, batch.batch_id).state == batches.DISCARDED
    plan = ex.prepare(store, ex.Scope.since_last())
    assert sorted(r.record_id for r in plan.going) == sorted(ids)
    assert plan.unconfirmed == []  # not "in a file not marked as uploaded": it was not sent
    with pytest.raises(batches.BatchStateError, match="discarded"):
        batches.mark_uploaded(store, batch.batch_id, store.today())
    assert (out_dir / "1.csv").exists()  # the file is the user's: left where it is
    assert ex.days_since_last_sent(store, store.today()) is None


def test_deleted_since_sent_counts_only_sent_files(store: Store, out_dir: Path) -> None:
    ids = add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    store.delete(ids[1], "Duplicate")
    # The file was only saved: nothing to delete in the webtool yet.
    assert ex.prepare(store, ex.Scope.since_last()).deleted_since_sent == []
    batches.mark_uploaded(store, batch.batch_id, store.today())
    assert [d.record_id for d in ex.prepare(store, ex.Scope.since_last()).deleted_since_sent] == [
        ids[1]
    ]
    # Reported in a file that is then discarded: reported again.
    store.new_record({**golden_records()[1], "1.09": "2024-06-01"})
    plan = ex.prepare(store, ex.Scope.since_last())
    report = ex.write(store, plan, out_dir / "2.csv")
    assert report.deleted_reported == 1
    batches.discard(store, str(report.batch_id))
    assert [d.record_id for d in ex.prepare(store, ex.Scope.since_last()).deleted_since_sent] == [
        ids[1]
    ]


def test_a_successful_upload_makes_the_batch_sent(store: Store, out_dir: Path) -> None:
    ids = add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    # What upload.upload_file records on success (tested against a real server in test_upload).
    batches.set_state(store, batch.batch_id, batches.SENT, receipt="R-1", attempts=1)
    assert ex.was_exported(store, ids[0]) and _going(store) == []


def test_sending_age_for_the_status_bar(store: Store, out_dir: Path, clock: FakeClock) -> None:
    add_golden(store)
    age = ex.sending_age(store, store.today())
    assert age.text == "Never exported" and not age.overdue  # a new store is not late
    batch = _save(store, out_dir / "1.csv")
    age = ex.sending_age(store, store.today())
    assert age.text.startswith("Never sent") and not age.overdue
    assert not ex.sending_age(store, store.today() + timedelta(days=31)).overdue
    assert ex.sending_age(store, store.today() + timedelta(days=32)).overdue
    batches.mark_uploaded(store, batch.batch_id, store.today())
    assert ex.sending_age(store, store.today()).text == "Sent today"
    later = ex.sending_age(store, store.today() + timedelta(days=40))
    assert later.text == "40 day(s) since the last sent export" and later.overdue


def test_an_old_store_that_never_exported_is_overdue(store: Store) -> None:
    # From the day the store was made (a team database's is the server's day, not the clock's).
    created = store_created(store)
    assert created is not None
    assert not ex.sending_age(store, created + timedelta(days=1)).overdue
    age = ex.sending_age(store, created + timedelta(days=60))
    assert age.text == "Never exported" and age.overdue


def test_save_suggests_the_last_export_folder(store: Store, tmp_path: Path) -> None:
    add_golden(store)
    assert ex.last_export_folder(store) == Path.home()
    folder = tmp_path / "exports"
    folder.mkdir()
    _save(store, folder / "1.csv")
    assert ex.last_export_folder(store) == folder
    folder.joinpath("1.csv").unlink()
    folder.rmdir()
    assert ex.last_export_folder(store) == Path.home()  # gone: not suggested


def test_an_interrupted_export_is_recognised_by_its_file(store: Store, out_dir: Path) -> None:
    """The state a kill between rename and finishing leaves (the crash-point tests make it
    for real): a "writing" batch whose file is in place becomes an ordinary exported one; one
    whose file never arrived is dropped, and its rows go again."""
    ids = add_golden(store)
    kept = _save(store, out_dir / "kept.csv")
    lost = _save(store, out_dir / "lost.csv")
    with store.write_transaction() as conn:
        conn.exec_driver_sql("UPDATE export_batches SET state = 'writing'")
    (out_dir / "lost.csv").unlink()
    assert [b.batch_id for b in batches.list_batches(store)] == [kept.batch_id]
    assert batches.get_batch(store, kept.batch_id).state == batches.EXPORTED  # type: ignore[union-attr]
    assert batches.get_batch(store, lost.batch_id) is None
    assert _going(store) == sorted(ids)


def test_new_stores_require_the_optout_check_existing_ones_keep_theirs(
    store: Store, paths, tmp_path: Path
) -> None:
    assert store.get_setting(ex.REQUIRE_OPTOUT_SETTING) is True
    import json
    import shutil

    from flsdesk.paths import resolve

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "store-schema-4.db"
    manifest = json.loads(fixture.with_suffix(".json").read_text())
    old_paths = resolve(tmp_path / "old")
    old_paths.data_dir.mkdir(parents=True)
    shutil.copyfile(fixture, old_paths.database)
    with Store.open(old_paths, bytes.fromhex(manifest["test_only_key_hex"]), "OL (old)") as old:
        assert not old.get_setting(ex.REQUIRE_OPTOUT_SETTING, False)  # kept: not required


def test_held_back_says_which_error(store: Store) -> None:
    first = store.new_record(golden_records()[0])
    twin = store.new_record(golden_records()[0])  # same NHS number and date of diagnosis
    bad = store.new_record({**golden_records()[1], "1.01": "1234567890"})
    store.set_setting(ex.REQUIRE_OPTOUT_SETTING, False)
    held = {r.record_id: r.reason for r in ex.prepare(store, ex.Scope.all()).held_back}
    assert held[bad].startswith("This is not a valid NHS number")
    assert f"(record {first})" in held[twin] and "same NHS number" in held[twin]
    assert f"(record {twin})" in held[first]
    assert ex.HELD_NEEDS_CORRECTION not in held.values()


def test_an_unchecked_record_held_back_says_so_in_words(store: Store) -> None:
    answers = {**golden_records()[0]}
    answers.pop("optout_status", None)
    rid = store.new_record({**answers, "optout_status": "Not checked"})
    plan = ex.prepare(store, ex.Scope.all())
    [held] = [r for r in plan.held_back if r.record_id == rid]
    assert "National Data Opt-out list" in held.reason and "Settings requires" in held.reason
    assert "Mark these as checked" in held.reason
    assert "1 held back" in plan.summary_line()


def test_the_summary_counts_every_warning_and_names_no_profile(store: Store) -> None:
    add_golden(store)
    store.set_setting(ex.REQUIRE_OPTOUT_SETTING, False)
    for i in range(3):
        store.new_record(
            {
                **golden_records()[0],
                "1.01": nhs_number(400000000 + 10 * i),
                "optout_status": "Not checked",
            }
        )
    plan = ex.prepare(store, ex.Scope.all())
    assert len(plan.warnings) == 3
    line = plan.summary_line()
    assert "3 warning(s)" in line and "profile" not in line and "flsdb-webtool" not in line


def test_mark_uploaded_day_is_kept_whatever_the_time_zone(store: Store, out_dir: Path) -> None:
    add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    batches.mark_uploaded(store, batch.batch_id, store.today())
    assert batches.last_sent_day(store) == store.today()
    assert isinstance(batches.last_sent_day(store), date)


def test_sent_is_final(store: Store, out_dir: Path) -> None:
    """An upload failing after the user marked the batch uploaded does not make it unsent."""
    add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    batches.set_state(store, batch.batch_id, batches.UPLOADING)
    batches.mark_uploaded(store, batch.batch_id, store.today())
    batches.set_state(store, batch.batch_id, batches.FAILED, failure="timed out", attempts=3)
    found = batches.get_batch(store, batch.batch_id)
    assert found is not None and found.state == batches.SENT and found.failure is None


def test_a_discarded_file_does_not_count_as_saved(store: Store, out_dir: Path) -> None:
    add_golden(store)
    batch = _save(store, out_dir / "1.csv")
    batches.discard(store, batch.batch_id)
    assert ex.days_since_last_export(store, store.today()) is None
    assert ex.sending_age(store, store.today()).text == "Never exported"
