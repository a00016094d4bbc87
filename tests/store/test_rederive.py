"""The store re-derives every live record when the definition files in use change (issue 13.4).

The change is made as the README tells a service to make it: a copy of the bundled dataset file,
edited, dropped into the override folder. Nothing is injected into the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from flsdesk import followups as fu
from flsdesk.cli import EXIT_OK, main
from flsdesk.dataset import load_definitions
from flsdesk.paths import AppPaths, bundled_resources, resolve
from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION
from flsdesk.store.models import Meta
from flsdesk.store.records import DERIVED_COLUMNS, StoreHooks, records_table
from flsdesk.store.rederive import FINGERPRINT_KEY, LiveIndex, Rederived, fingerprint
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    TODAY,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
)

V3 = bundled_resources() / "datasets" / "flsdb-v3.toml"
RECENT = TODAY - timedelta(days=62)  # 16-week follow-up upcoming, nothing required yet


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the bundled file changed: {old!r} is not there once"
    return text.replace(old, new)


def corrected_v3(paths: AppPaths) -> Path:
    """The service's corrected flsdb-v3.toml in its override folder. It changes:
    the match key (NHS number + date of birth), 1.10 becomes a lite question, follow-up only
    for a drug (not a referral), and the 16-week follow-up is due from day 70 (not 84)."""
    text = V3.read_text(encoding="utf-8")
    text = _replace_once(text, 'primary = ["1.01", "1.09"]', 'primary = ["1.01", "1.02"]')
    text = _replace_once(
        text,
        'provisional_answers = true\n\n[[questions]]\nnumber = "1.11"',
        'provisional_answers = true\nlite = true\n\n[[questions]]\nnumber = "1.11"',
    )
    text = _replace_once(
        text,
        'applies_when = { question = "4.01", has_tag = ["drug", "referral"] }',
        'applies_when = { question = "4.01", has_tag = ["drug"] }',
    )
    text = _replace_once(text, "due_from = 84", "due_from = 70")
    paths.overrides_dir.mkdir(parents=True, exist_ok=True)
    target = paths.overrides_dir / V3.name
    target.write_text(text, encoding="utf-8")
    return target


def recent(nhs: str, therapy: list[str]) -> dict[str, Any]:
    answers = complete_answers(nhs, RECENT, **{"4.01": therapy})
    del answers["6.01"], answers["7.01"]  # not yet due
    return answers


def derived(store: Store, record_id: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        row = conn.execute(select(records_table).where(records_table.c.id == record_id)).one()
    return {k: row._mapping[k] for k in DERIVED_COLUMNS}


def stored_fingerprint(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(Meta.value).where(Meta.key == FINGERPRINT_KEY)).scalar()


@pytest.fixture
def caseload(paths: AppPaths, clock: FakeClock) -> dict[str, int]:
    """A store made with the bundled files, holding the records the correction will affect."""
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        ids = {
            "complete": s.new_record(complete_answers(nhs_number(611111111))),
            "drug": s.new_record(recent(nhs_number(622222222), ["Alendronate"])),
            "referral": s.new_record(
                recent(nhs_number(633333333), ["Referred to GP to decide prescription"])
            ),
            # One patient, two fractures: two records under the old key, one key under the new.
            "first": s.new_record(complete_answers(nhs_number(644444444), date(2024, 2, 1))),
            "second": s.new_record(complete_answers(nhs_number(644444444), date(2024, 9, 1))),
            "deleted": s.new_record(complete_answers(nhs_number(655555555))),
        }
        s.delete(ids["deleted"], "Test record")
        for name in ("complete", "drug", "referral", "first", "second"):
            assert s.load(ids[name]).status == COMPLETE
            assert s.load(ids[name]).missing_count == 0
        assert s.possible_duplicates() == []
    return ids


def test_a_corrected_definition_re_derives_every_live_record_once(
    paths: AppPaths, clock: FakeClock, caseload: dict[str, int]
) -> None:
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        today = s.today()
        before = {name: derived(s, rid) for name, rid in caseload.items()}
        old_print = stored_fingerprint(s)
        old_next = fu.next_followups(s.engine, s.definitions, caseload.values(), today)
    assert old_next[caseload["drug"]].window_opens == RECENT + timedelta(days=84)
    assert caseload["referral"] in old_next
    corrected_v3(paths)

    progress: list[tuple[int, int]] = []
    with Store.open(
        paths, TEST_KEY, TEST_USER, clock=clock, progress=lambda d, t: progress.append((d, t))
    ) as s:
        result = s.rederived
        after = {name: derived(s, rid) for name, rid in caseload.items()}
        new_next = fu.next_followups(s.engine, s.definitions, caseload.values(), today)
        assert stored_fingerprint(s) == fingerprint(load_definitions(paths)) != old_print
        audit_sizes = {rid: len(s.audit_trail(rid)) for rid in caseload.values()}
        versions = {rid: s.load(rid).version for rid in caseload.values()}

    # Statuses and missing counts: 1.10 (never answered) is now required.
    for name in ("complete", "drug", "referral"):
        assert after[name]["status"] == DRAFT
        assert after[name]["missing_count"] == before[name]["missing_count"] + 1 == 1
    # Keys: NHS number + date of birth, so the two fractures of one patient now clash.
    assert after["first"]["match_key"] == after["second"]["match_key"]
    assert before["first"]["match_key"] != before["second"]["match_key"]
    for name in ("first", "second"):
        assert after[name]["status"] == NEEDS_CORRECTION and after[name]["has_errors"]
    # Follow-ups: a referral no longer owes one; a drug's 16-week one is due from day 70.
    assert before["referral"]["followup_applies"] and not after["referral"]["followup_applies"]
    assert caseload["referral"] not in new_next
    assert new_next[caseload["drug"]].window_opens == RECENT + timedelta(days=70)
    # The deleted record was not re-derived (restoring it derives it then).
    assert after["deleted"] == before["deleted"]

    # Said once, with the count: every live record changed status.
    assert result == Rederived(total=5, changed_status=5, changed_missing=5, changed_key=5)
    assert result.message() == "The dataset definition changed: 5 records changed status"
    assert progress[0] == (0, 5)
    assert progress[-1][0] == progress[-1][1] >= 5  # the second pass (the clashing keys) counts
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)

    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is None and not s.rederive_due()
        assert {name: derived(s, rid) for name, rid in caseload.items()} == after
        # Re-deriving is not an edit: no audit entry, no new version.
        assert {rid: len(s.audit_trail(rid)) for rid in caseload.values()} == audit_sizes
        assert {rid: s.load(rid).version for rid in caseload.values()} == versions
        s.restore(caseload["deleted"])
        assert s.load(caseload["deleted"]).status == DRAFT  # derived on restore, new rules


def test_removing_the_override_re_derives_back(
    paths: AppPaths, clock: FakeClock, caseload: dict[str, int]
) -> None:
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        before = {name: derived(s, rid) for name, rid in caseload.items()}
    corrected_v3(paths).unlink()  # an identical copy would change nothing; removing it does
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is None
    corrected_v3(paths)
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is not None and s.rederived.changed_status == 5
    (paths.overrides_dir / V3.name).unlink()
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is not None and s.rederived.changed_status == 5
        assert {name: derived(s, rid) for name, rid in caseload.items()} == before


def test_an_identical_copy_in_the_override_folder_changes_nothing(
    paths: AppPaths, clock: FakeClock, caseload: dict[str, int]
) -> None:
    paths.overrides_dir.mkdir(parents=True, exist_ok=True)
    (paths.overrides_dir / V3.name).write_bytes(V3.read_bytes())
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is None


def test_a_store_without_a_fingerprint_re_derives_once(
    paths: AppPaths, clock: FakeClock, caseload: dict[str, int]
) -> None:
    """Stores made before the fingerprint kept a setting instead: the first open re-derives."""
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        with s.engine.begin() as conn:
            conn.execute(Meta.__table__.delete().where(Meta.key == FINGERPRINT_KEY))
        s.set_setting("definitions_digest", "an older digest")
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived == Rederived(5, 0, 0, 0)
        assert s.get_setting("definitions_digest") is None
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is None


def test_a_failure_part_way_keeps_the_old_values_and_fingerprint(
    paths: AppPaths, clock: FakeClock, caseload: dict[str, int]
) -> None:
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        before = {name: derived(s, rid) for name, rid in caseload.items()}
        old_print = stored_fingerprint(s)
    corrected_v3(paths)

    def stop(done: int, total: int) -> None:
        if done:  # after the first records' new values are written in the transaction
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Store.open(paths, TEST_KEY, TEST_USER, clock=clock, progress=stop)
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock, defer_rederive=True) as s:
        assert s.rederive_due() and stored_fingerprint(s) == old_print
        assert {name: derived(s, rid) for name, rid in caseload.items()} == before
        assert s.rederive() is not None and not s.rederive_due()


def test_the_command_line_says_it_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = resolve(None)  # the per-test FLSDESK_DATA_DIR
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "correct horse battery")
    assert main(["init", "--site", "Test FLS"]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "correct horse battery")
    from flsdesk.cli.prompts import open_store_for_command

    with open_store_for_command(paths) as s:
        s.new_record(complete_answers(nhs_number(611111111)))
    capsys.readouterr()
    corrected_v3(paths)
    assert main(["followups"]) == EXIT_OK
    err = capsys.readouterr().err
    assert err.count("The dataset definition changed: 1 record changed status") == 1
    assert main(["followups"]) == EXIT_OK
    assert "definition changed" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of the re-derivation
# ---------------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from flsdesk.paths import resolve
    from flsdesk.store.store import Store

    def progress(done, total):
        if done >= 1000:  # two chunks written inside the open transaction
            print("mid", done, total, flush=True)
            time.sleep(600)

    Store.open(resolve(sys.argv[1]), bytes(range(32)), "TS (tester)",
               clock=lambda: datetime(2025, 6, 2, 12, tzinfo=UTC), progress=progress)
    print("finished", flush=True)
    """
)


@pytest.mark.slow
def test_kill_9_mid_re_derivation_leaves_the_old_values_and_the_next_open_redoes_it(
    paths: AppPaths, clock: FakeClock
) -> None:
    answers = [
        complete_answers(nhs_number(600000000 + 7 * i), date(2024, 1, 10) + timedelta(days=i % 300))
        for i in range(1600)
    ]
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        ids = s.bulk_insert(answers)
        before = {rid: derived(s, rid) for rid in ids}
        old_print = stored_fingerprint(s)
    assert {d["status"] for d in before.values()} == {COMPLETE}
    corrected_v3(paths)

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(paths.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        problem = child.stderr.read() if child.stderr and not line else ""
        assert line.startswith("mid 1000 1600"), line + problem
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream:
                stream.close()
    assert child.returncode == -signal.SIGKILL

    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock, defer_rederive=True) as s:
        assert s.rederive_due() and stored_fingerprint(s) == old_print
        assert {rid: derived(s, rid) for rid in ids} == before
    with Store.open(paths, TEST_KEY, TEST_USER, clock=clock) as s:
        assert s.rederived is not None
        assert s.rederived.total == 1600 and s.rederived.changed_status == 1600
        assert {derived(s, rid)["status"] for rid in ids} == {DRAFT}
        assert stored_fingerprint(s) == fingerprint(s.definitions)


def test_the_in_memory_look_ups_answer_as_the_store_does(paths: AppPaths, clock: FakeClock) -> None:
    """The re-derivation asks LiveIndex what the rules would ask StoreHooks: same answers."""
    patients = [nhs_number(670000000 + 11 * i) for i in range(6)]
    answers = []
    for i in range(60):
        day = date(2023, 1, 1) + timedelta(days=37 * (i % 17))
        a = complete_answers(patients[i % 6], day)
        if i % 9 == 0:
            del a["1.09"]  # no diagnosis date: no key, never an earlier fracture
        answers.append(a)
    answers.append(dict(answers[1]))  # a duplicate key
    with Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock) as s:
        ids = s.bulk_insert(answers)
        s.delete(ids[6], "Test record")  # deleted: invisible to both
        with s.engine.connect() as conn:
            index, hooks = LiveIndex(conn), StoreHooks(conn)
            rows = conn.execute(select(records_table)).all()
            asked = 0
            for row in rows:
                for rid in (row.id, None):
                    if row.match_key:
                        assert index.same_key(row.match_key, rid) == hooks.same_key(
                            row.match_key, rid
                        )
                    if row.nhs_number and row.diagnosed:
                        for days in (1, 40, 365, 2000):
                            got = index.earlier_same_patient(
                                row.nhs_number, row.diagnosed, days, rid
                            )
                            want = hooks.earlier_same_patient(
                                row.nhs_number, row.diagnosed, days, rid
                            )
                            assert got == want
                            asked += bool(want)
            assert asked > 20  # the comparison saw real answers, not only empty lists
            assert index.same_key(rows[1].match_key, None) == [ids[1], ids[-1]]
