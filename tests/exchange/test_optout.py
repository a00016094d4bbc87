"""The National Data Opt-out round trip: the unchecked list out, the result back, the report."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flsdesk.exchange import batches, optout
from flsdesk.exchange import export as ex
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import golden_records

UNCHECKED = {"optout_status": "Not checked"}


def _unchecked(answers: dict) -> dict:
    out = {k: v for k, v in answers.items() if k not in ("optout_status", "optout_date")}
    return out


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_round_trip(store: Store, out_dir: Path, clock: FakeClock) -> None:
    records = [_unchecked(a) for a in golden_records()]
    records[3] = {**records[3], **UNCHECKED}  # "Not checked" said explicitly
    ids = [store.new_record(a) for a in records]
    # Sent once before anyone checked (the service did not require the check).
    store.set_setting("require_optout_check", False)
    sent = ex.write(store, ex.prepare(store, ex.Scope.all()), out_dir / "sent.csv")
    batches.mark_uploaded(store, str(sent.batch_id), store.today())

    numbers, covered = optout.unchecked_numbers(store)
    nhs = [records[i]["1.01"] for i in (1, 2, 4)]
    assert numbers == sorted(nhs)  # OVERSEAS patients cannot be checked by NHS number
    assert covered == 3
    saved = optout.write_unchecked_list(store, out_dir / "for-ig.csv")
    text = (out_dir / "for-ig.csv").read_bytes()
    assert text == ("NHS number\r\n" + "".join(f"{n}\r\n" for n in sorted(nhs))).encode()
    assert saved.count == 3
    if os.name == "posix":
        assert stat.S_IMODE((out_dir / "for-ig.csv").stat().st_mode) == 0o600

    # A record added after the list went out is not covered by the answer.
    late = store.new_record({**_unchecked(golden_records()[2]), "1.01": nhs_number(555666777)})

    # The IG team's answer: one opted out, with spaces, a header and a stray line.
    result = out_dir / "from-ig.csv"
    spaced = f"{nhs[0][:3]} {nhs[0][3:6]} {nhs[0][6:]}"
    result.write_text(f"Opted out NHS numbers\n{spaced}\nnot a number\n")
    opted, odd = optout.read_result(result)
    assert opted == {nhs[0]} and odd == [3]
    clock.advance(days=1)
    applied = optout.apply_result(store, opted)
    assert (applied.opted_out, applied.not_opted_out, applied.unknown_numbers) == (1, 2, 0)
    day = store.today().isoformat()
    assert store.load(ids[1]).answers["optout_status"] == "Opted out"
    assert store.load(ids[1]).answers["optout_date"] == day
    for i in (2, 4):
        assert store.load(ids[i]).answers["optout_status"] == "Checked, not opted out"
        assert store.load(ids[i]).answers["optout_date"] == day
    assert "optout_status" not in store.load(late).answers  # not on the list: left alone
    assert store.load(ids[3]).answers["optout_status"] == "Not checked"  # OVERSEAS
    trail = store.audit_trail(ids[1])
    assert any(e.question == "optout_status" and e.reason == optout.CHECK_REASON for e in trail)
    # Already sent, since opted out: ask the FLS-DB to remove it.
    [gone] = applied.sent_then_opted_out
    assert gone.record_id == ids[1] and gone.nhs_number == nhs[0]
    assert optout.sent_then_opted_out(store) == applied.sent_then_opted_out
    # And the next export holds it back.
    plan = ex.prepare(store, ex.Scope.all())
    assert {r.record_id: r.reason for r in plan.held_back} == {ids[1]: ex.HELD_OPTED_OUT}
    # Opt-out fields are local: marking the others did not change their rows.
    assert {r.record_id for r in ex.prepare(store, ex.Scope.since_last()).going} == {late}


def test_a_later_opt_out_overrides_an_earlier_check(store: Store) -> None:
    rid = store.new_record(golden_records()[1])  # checked, not opted out
    nhs = golden_records()[1]["1.01"]
    applied = optout.apply_result(store, {nhs, nhs_number(999000111)})
    assert applied.opted_out == 1 and applied.unknown_numbers == 1
    assert store.load(rid).answers["optout_status"] == "Opted out"


def test_no_list_when_everything_is_checked(store: Store, out_dir: Path) -> None:
    store.new_record(golden_records()[1])
    with pytest.raises(optout.OptoutError, match="checked"):
        optout.write_unchecked_list(store, out_dir / "x.csv")
    assert not (out_dir / "x.csv").exists()


def test_fields_come_from_the_definition(store: Store) -> None:
    fields = optout.OptoutFields.of(store.definitions.latest)
    assert fields.status == "optout_status" and fields.date == "optout_date"
    assert fields.opted_out == "Opted out"
    assert fields.not_opted_out == "Checked, not opted out"
    assert fields.state({}) == "unchecked"
    assert fields.state({"optout_status": "Not checked"}) == "unchecked"
