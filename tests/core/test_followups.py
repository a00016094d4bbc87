"""The follow-up worklist (spec section 5) over a real encrypted store, with a fixed "today".

Every record is entered through ``Store.new_record``, so the indexed columns the worklist reads
are derived exactly as in use. Window ids "16" and "52" are the bundled definition's.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flsdesk import followups as fu
from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.dataset import load_definitions
from flsdesk.paths import AppPaths, bundled_resources, resolve
from flsdesk.store import keys
from flsdesk.store.models import CallAttempt
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    TODAY,
    FakeClock,
    clock_fixture,
    nhs_number,
    paths_fixture,
    store_fixture,
)

BUNDLED = bundled_resources() / "datasets" / "flsdb-v3.toml"
_serial = [500_000_000]


def answers_for(day: int, on: date = TODAY, **extra: Any) -> dict[str, Any]:
    """A record diagnosed ``day`` days before ``on``, recommended a drug (follow-up owed)."""
    _serial[0] += 7
    diagnosed = on - timedelta(days=day)
    answers: dict[str, Any] = {
        "1.01": nhs_number(_serial[0]),
        "1.02": "1945-02-03",
        "1.03": "Female",
        "1.09": diagnosed.isoformat(),
        "1.11": "Wrist",
        "4.01": ["Alendronate"],
        "name": f"Patient {day}",
        "hospital_number": f"H{day:05d}",
    }
    answers.update(extra)
    return {k: v for k, v in answers.items() if v is not None}


def rows_of(store: Store, record_id: int, states=fu.STATES, on: date = TODAY) -> dict[str, Any]:
    rows = fu.worklist(store.engine, store.definitions, on, states)
    return {r.window_id: r for r in rows if r.record_id == record_id}


# ---------------------------------------------------------------------------------------------
# Every boundary of the spec's table
# ---------------------------------------------------------------------------------------------

BOUNDARIES = [
    # window, day, state (None: not listed at all), days shown
    ("16", 55, None, None),
    ("16", 56, fu.UPCOMING, 28),
    ("16", 83, fu.UPCOMING, 1),
    ("16", 84, fu.DUE, 29),
    ("16", 112, fu.DUE, 1),
    ("16", 113, fu.OVERDUE, 1),
    ("16", 335, fu.OVERDUE, 223),
    ("16", 336, fu.MISSED, 224),
    ("52", 307, None, None),
    ("52", 308, fu.UPCOMING, 28),
    ("52", 335, fu.UPCOMING, 1),
    ("52", 336, fu.DUE, 57),
    ("52", 392, fu.DUE, 1),
    ("52", 393, fu.OVERDUE, 1),
    ("52", 573, fu.OVERDUE, 181),
    ("52", 574, fu.MISSED, 182),
]


@pytest.mark.parametrize(("window", "day", "state", "days"), BOUNDARIES)
def test_every_boundary_of_the_table(
    store: Store, window: str, day: int, state: str | None, days: int | None
) -> None:
    rid = store.new_record(answers_for(day))
    found = rows_of(store, rid).get(window)
    if state is None:
        assert found is None
        return
    assert found is not None
    assert (found.state, found.days) == (state, days)
    diagnosed = TODAY - timedelta(days=day)
    spec = {"16": (84, 112), "52": (336, 392)}[window]
    assert found.window_opens == diagnosed + timedelta(days=spec[0])
    assert found.window_closes == diagnosed + timedelta(days=spec[1])
    assert found.label == {"16": "16-week", "52": "52-week"}[window]
    assert found.tab_id == "followup"
    # Missed follow-ups are listed only on request; the default is open.
    open_rows = rows_of(store, rid, fu.OPEN_STATES)
    assert (window in open_rows) == (state != fu.MISSED)


def test_the_bounds_come_from_the_definition(store: Store) -> None:
    """No day count lives in the code: the windows read are the definition's own."""
    windows = {w.id: w for w in store.definitions.latest.followup_windows}
    assert (windows["16"].upcoming_from, windows["16"].missed_from) == (56, 336)
    assert (windows["52"].upcoming_from, windows["52"].missed_from) == (308, 574)
    source = (Path(fu.__file__)).read_text()
    for literal in ("56", "84", "113", "336", "308", "393", "574", '"6.01"', '"7.01"'):
        assert literal not in source


# ---------------------------------------------------------------------------------------------
# Who is owed a follow-up
# ---------------------------------------------------------------------------------------------


def test_hip_patient_with_a_drug_is_listed(store: Store) -> None:
    rid = store.new_record(answers_for(90, **{"1.11": "Hip", "4.01": ["Denosumab"]}))
    row = rows_of(store, rid)["16"]
    assert row.state == fu.DUE
    assert row.site == "Hip"
    assert row.bone_therapy == "Denosumab"


def test_a_referral_is_listed(store: Store) -> None:
    rid = store.new_record(answers_for(90, **{"4.01": ["Referred to GP to decide prescription"]}))
    assert rows_of(store, rid)["16"].state == fu.DUE


@pytest.mark.parametrize("answer", ["Inappropriate", "Informed decline", "Don't know"])
def test_no_drug_and_no_referral_is_never_listed(store: Store, answer: str) -> None:
    ids = [store.new_record(answers_for(day, **{"4.01": [answer]})) for day in (90, 330, 400, 600)]
    listed = {r.record_id for r in fu.worklist(store.engine, store.definitions, TODAY, fu.STATES)}
    assert not listed & set(ids)


def test_no_answer_in_4_01_is_never_listed(store: Store) -> None:
    rid = store.new_record(answers_for(90, **{"4.01": None}))
    assert rows_of(store, rid) == {}


@pytest.mark.parametrize("answer", ["No", "Yes"])
def test_an_answered_follow_up_is_closed(store: Store, answer: str) -> None:
    extra: dict[str, Any] = {"6.01": answer}
    if answer == "Yes":
        extra["6.02"] = (TODAY - timedelta(days=300)).isoformat()
    rid = store.new_record(answers_for(400, **extra))
    rows = rows_of(store, rid)
    assert "16" not in rows
    assert rows["52"].state == fu.OVERDUE  # the other follow-up is still owed


def test_follow_up_ended_closes_both(store: Store) -> None:
    rid = store.new_record(answers_for(330))
    assert set(rows_of(store, rid)) == {"16", "52"}
    fu.end_followup(store, rid, "Moved away", TODAY)
    assert rows_of(store, rid) == {}
    record = store.load(rid)
    assert record.answers["followup_ended_reason"] == "Moved away"
    assert record.answers["followup_ended_date"] == TODAY.isoformat()
    trail = store.audit_trail(rid)
    assert any(getattr(item, "reason", None) == "Follow-up ended" for item in trail)


def test_follow_up_ended_entered_on_the_form_closes_both(store: Store) -> None:
    rid = store.new_record(answers_for(330, followup_ended_reason="Died"))
    assert rows_of(store, rid) == {}


def test_end_reasons_are_the_definition_answers(store: Store) -> None:
    reasons = fu.end_reasons(store.definitions.latest)
    assert reasons == ["Died", "Moved away", "Discharged to GP", "Declined"]
    rid = store.new_record(answers_for(90))
    with pytest.raises(ValueError, match="not a reason"):
        fu.end_followup(store, rid, "Bored")


def test_a_deleted_record_is_never_listed(store: Store) -> None:
    rid = store.new_record(answers_for(90))
    assert rows_of(store, rid)
    store.delete(rid, "Test record")
    assert rows_of(store, rid) == {}
    assert fu.counts(store.engine, store.definitions, TODAY)["open"] == 0
    assert fu.next_followups(store.engine, store.definitions, [rid], TODAY) == {}


def test_two_rows_for_one_patient(store: Store) -> None:
    rid = store.new_record(answers_for(320))
    rows = rows_of(store, rid, fu.OPEN_STATES)
    assert (rows["16"].state, rows["16"].days) == (fu.OVERDUE, 320 - 112)
    assert (rows["52"].state, rows["52"].days) == (fu.UPCOMING, 336 - 320)


def test_recording_the_follow_up_removes_the_row(store: Store) -> None:
    answers = answers_for(90)
    rid = store.new_record(answers)
    assert "16" in rows_of(store, rid)
    store.save(rid, {**answers, "6.01": "Yes", "6.02": TODAY.isoformat()})
    assert "16" not in rows_of(store, rid)


def test_the_list_is_ordered_by_window_then_by_try_again_on(store: Store) -> None:
    a = store.new_record(answers_for(100))
    b = store.new_record(answers_for(200))
    c = store.new_record(answers_for(90))
    order = [r.record_id for r in fu.worklist(store.engine, store.definitions, TODAY)]
    assert order == [b, a, c]  # the earliest window (the longest overdue) first
    fu.log_call_attempt(store, a, "16", TODAY, "No answer", TODAY + timedelta(days=1))
    fu.log_call_attempt(store, c, "16", TODAY, "Left message", TODAY + timedelta(days=3))
    by_retry = fu.worklist(store.engine, store.definitions, TODAY, sort="try_again_on")
    assert [r.record_id for r in by_retry] == [a, c, b]  # never tried: last
    with pytest.raises(ValueError):
        fu.worklist(store.engine, store.definitions, TODAY, sort="name")
    with pytest.raises(ValueError):
        fu.worklist(store.engine, store.definitions, TODAY, {"late"})


def test_counts_per_state(store: Store) -> None:
    for day in (60, 90, 100, 200, 340, 600, 10):
        store.new_record(answers_for(day))
    counts = fu.counts(store.engine, store.definitions, TODAY)
    # 60 upcoming; 90, 100 due; 200 overdue; 340: 16 missed + 52 due; 600: both missed.
    assert counts == {
        fu.UPCOMING: 1,
        fu.DUE: 3,
        fu.OVERDUE: 1,
        fu.MISSED: 3,
        "open": 5,
    }
    assert len(fu.worklist(store.engine, store.definitions, TODAY)) == counts["open"]


def test_next_follow_up_for_the_patient_list(store: Store) -> None:
    early = store.new_record(answers_for(10))
    missed16 = store.new_record(answers_for(340))
    closed = store.new_record(answers_for(100, **{"6.01": "No", "7.01": "No"}))
    none = store.new_record(answers_for(100, **{"4.01": ["Inappropriate"]}))
    found = fu.next_followups(
        store.engine, store.definitions, [early, missed16, closed, none], TODAY
    )
    assert set(found) == {early, missed16}
    assert found[early].label == "16-week"
    assert found[early].state is None  # not yet upcoming
    assert found[early].window_opens == TODAY - timedelta(days=10) + timedelta(days=84)
    assert found[missed16].label == "52-week"
    assert found[missed16].state == fu.DUE
    assert fu.next_followups(store.engine, store.definitions, [], TODAY) == {}


# ---------------------------------------------------------------------------------------------
# Hidden answers count as absent (spec section 3)
# ---------------------------------------------------------------------------------------------


def _override(paths: AppPaths, name: str, text: str) -> None:
    paths.overrides_dir.mkdir(parents=True, exist_ok=True)
    (paths.overrides_dir / name).write_text(text, encoding="utf-8")


def test_a_hidden_4_01_drug_does_not_make_a_follow_up_owed(
    paths: AppPaths, clock: FakeClock
) -> None:
    """4.01 can never be hidden in the bundled definition, so an override copy makes it
    conditional (on 1.11 being answered) — as a service's corrected file might."""
    text = BUNDLED.read_text(encoding="utf-8")
    marker = 'number = "4.01"\n'
    assert text.count(marker) == 1
    text = text.replace(marker, marker + 'applies_when = { question = "1.11", answered = true }\n')
    _override(paths, "flsdb-v3.toml", text)
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        assert s.definitions.latest.questions["4.01"].applies_when is not None
        answers = answers_for(90, **{"1.11": None})
        rid = s.new_record(answers)
        assert s.load(rid).answers["4.01"] == ["Alendronate"]  # kept, but hidden
        assert rows_of(s, rid) == {}
        assert fu.next_followups(s.engine, s.definitions, [rid], TODAY) == {}
        s.save(rid, {**answers, "1.11": "Wrist"})  # 4.01 comes back
        assert rows_of(s, rid)["16"].state == fu.DUE


def test_each_definition_uses_its_own_day_counts(paths: AppPaths, clock: FakeClock) -> None:
    """Records diagnosed under a later definition are timed by that definition's windows."""
    text = BUNDLED.read_text(encoding="utf-8")
    text = text.replace('id = "flsdb-v3"', 'id = "flsdb-test-later"', 1)
    text = text.replace("applies_from = 2024-01-01", "applies_from = 2025-01-01", 1)
    old = '[followup.windows.16]\nlabel = "16-week"\nclosed_by = "6.01"\nupcoming_from = 56\n'
    assert old in text
    text = text.replace(old, old.replace("56", "30").replace("16-week", "16-week (later)"))
    _override(paths, "flsdb-test-later.toml", text)
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        assert len(s.definitions.definitions) == 3
        later = s.new_record(answers_for(40))  # diagnosed 2025-04-23: the later file
        earlier = s.new_record(answers_for(40, on=date(2024, 12, 1)))
        assert s.load(later).dataset_id == "flsdb-test-later"
        row = rows_of(s, later)["16"]
        assert (row.state, row.label) == (fu.UPCOMING, "16-week (later)")
        # The same day count under the earlier definition is not yet upcoming.
        on = date(2024, 12, 1)
        assert rows_of(s, earlier, on=on) == {}
        assert rows_of(s, earlier, on=on + timedelta(days=16))["16"].state == fu.UPCOMING


def test_a_window_closed_by_an_unindexed_question_is_refused(
    paths: AppPaths, clock: FakeClock
) -> None:
    text = BUNDLED.read_text(encoding="utf-8")
    text = text.replace('closed_by = "7.01"', 'closed_by = "7.02"', 1)
    _override(paths, "flsdb-v3.toml", text)
    with (
        Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s,
        pytest.raises(fu.FollowupConfigError, match=r"7\.02"),
    ):
        fu.worklist(s.engine, s.definitions, TODAY)


# ---------------------------------------------------------------------------------------------
# Call attempts
# ---------------------------------------------------------------------------------------------


def test_call_attempts_are_logged_and_the_last_is_shown(store: Store) -> None:
    rid = store.new_record(answers_for(320))
    fu.log_call_attempt(store, rid, "16", TODAY - timedelta(days=2), "No answer")
    fu.log_call_attempt(store, rid, "16", TODAY, "Call back later", TODAY + timedelta(days=2))
    # An older call logged later does not hide the latest one.
    fu.log_call_attempt(store, rid, "16", TODAY - timedelta(days=5), "Left message")
    rows = rows_of(store, rid)
    last = rows["16"].last_attempt
    assert last is not None
    assert (last.called_on, last.outcome, last.who) == (TODAY, "Call back later", TEST_USER)
    assert rows["16"].try_again_on == TODAY + timedelta(days=2)
    assert rows["52"].last_attempt is None  # an attempt belongs to one follow-up
    history = fu.call_attempts(store.engine, rid)
    assert [a.outcome for a in history] == ["Call back later", "No answer", "Left message"]


def test_call_attempt_validation(store: Store) -> None:
    rid = store.new_record(answers_for(90))
    with pytest.raises(ValueError, match="not a call outcome"):
        fu.log_call_attempt(store, rid, "16", TODAY, "Shouted")
    with pytest.raises(ValueError, match="future"):
        fu.log_call_attempt(store, rid, "16", TODAY + timedelta(days=1), "No answer")
    with pytest.raises(ValueError, match="before the date of the call"):
        fu.log_call_attempt(store, rid, "16", TODAY, "No answer", TODAY - timedelta(days=1))
    with pytest.raises(ValueError, match="not a follow-up"):
        fu.log_call_attempt(store, rid, "99", TODAY, "No answer")
    store.delete(rid, "Test record")
    with pytest.raises(ValueError, match="deleted"):
        fu.log_call_attempt(store, rid, "16", TODAY, "No answer")


def test_call_attempts_go_with_the_purged_record(
    store: Store, clock: FakeClock, paths: AppPaths
) -> None:
    rid = store.new_record(answers_for(90))
    fu.log_call_attempt(store, rid, "16", TODAY, "Reached")
    store.delete(rid, "Test record")
    clock.advance(days=31)
    store.purge_expired()
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CallAttempt.__table__)) == 0


def test_call_attempts_are_never_in_the_record_answers(store: Store) -> None:
    rid = store.new_record(answers_for(90))
    before = store.load(rid).answers
    fu.log_call_attempt(store, rid, "16", TODAY, "Reached")
    assert store.load(rid).answers == before


# ---------------------------------------------------------------------------------------------
# The call sheet CSV
# ---------------------------------------------------------------------------------------------


def test_call_sheet_csv_is_private_atomic_and_holds_only_the_call_details(
    store: Store, tmp_path: Path
) -> None:
    rid = store.new_record(answers_for(90, name="=cmd|' /C calc'!A0"))
    fu.log_call_attempt(store, rid, "16", TODAY, "No answer", TODAY + timedelta(days=1))
    rows = fu.worklist(store.engine, store.definitions, TODAY)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "calls.csv"
    target.write_text("old and readable")
    os.chmod(target, 0o644)
    fu.write_call_sheet_csv(target, rows)
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["calls.csv"]  # no temporary left over
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == list(fu.CALL_SHEET_COLUMNS)
    row = dict(zip(table[0], table[1], strict=True))
    assert row["Name"].startswith("'=")  # never a live spreadsheet formula
    assert row["Follow-up"] == "16-week"
    assert row["State"] == "due, 23 days left"
    assert row["Last call"] == f"{TODAY:%d/%m/%Y} No answer"
    assert row["Try again on"] == f"{TODAY + timedelta(days=1):%d/%m/%Y}"
    assert "1945" not in raw.decode("utf-8-sig")  # no date of birth


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------

PASS = "correct horse battery"


@pytest.fixture
def cli_store(monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    paths = resolve(None)  # the per-test FLSDESK_DATA_DIR
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["init", "--site", "Test FLS"]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    key = keys.unlock_with_passphrase(paths.key_file, PASS)
    with Store.open(paths, key, TEST_USER, definitions=load_definitions(paths)) as s:
        s.new_record(answers_for(90, name="Due Person"))
        s.new_record(answers_for(400, name="Missed Person"))  # 16 missed, 52 overdue
        s.new_record(answers_for(60, name="Upcoming Person"))
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    return paths


def test_cli_lists_the_open_follow_ups(cli_store: AppPaths, capsys) -> None:
    assert main(["followups", "--on", TODAY.isoformat()]) == EXIT_OK
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].startswith("NHS number")
    assert len(lines) == 1 + 3
    assert "Due Person" in out and "Upcoming Person" in out
    assert "3 follow-up(s) (open)" in err


@pytest.mark.parametrize(
    ("state", "expected"), [("missed", 1), ("all", 4), ("due", 1), ("overdue", 1)]
)
def test_cli_states(cli_store: AppPaths, capsys, state: str, expected: int) -> None:
    assert main(["followups", "--on", TODAY.isoformat(), "--state", state]) == EXIT_OK
    out, _ = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 + expected


def test_cli_csv_is_owner_only(cli_store: AppPaths, tmp_path: Path, capsys) -> None:
    target = tmp_path / "list.csv"
    assert main(["followups", "--on", TODAY.isoformat(), "--csv", str(target)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out == ""  # the result went to the file
    assert "written to" in err
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(target.read_text(encoding="utf-8-sig").strip().splitlines()) == 1 + 3


@pytest.mark.parametrize(
    "args",
    [
        ["--on", "2025-13-01"],
        ["--on", "02/06/2025"],
        ["--state", "late"],
        ["--csv", "/no/such/folder/list.csv"],
    ],
)
def test_cli_usage_errors_are_exit_2(cli_store: AppPaths, capsys, args: list[str]) -> None:
    assert main(["followups", *args]) == EXIT_USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_cli_wrong_passphrase_is_exit_3(
    cli_store: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "not the passphrase at all")
    assert main(["followups"]) == EXIT_STORE
    assert "Traceback" not in capsys.readouterr().err


def test_cli_without_a_store_is_exit_3(capsys) -> None:
    assert main(["followups"]) == EXIT_STORE


def test_cli_log_holds_no_patient_data(cli_store: AppPaths, tmp_path: Path, capsys) -> None:
    main(["followups", "--on", TODAY.isoformat(), "--csv", str(tmp_path / "x.csv")])
    logs = "".join(p.read_text() for p in cli_store.log_dir.rglob("*") if p.is_file())
    assert "Person" not in logs
    assert "followups" in logs
