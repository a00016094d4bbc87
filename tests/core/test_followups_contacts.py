"""The worklist a nurse can phone from (issue 12 point 7), in the core: contact details that stay
on this computer, and the list ordered by urgency.

Real encrypted store, records entered through ``Store.new_record``; the CLI runs in-process on a
real store made by ``init``.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import tomllib
from pathlib import Path

import pytest

from flsdesk import followups as fu
from flsdesk.cli import EXIT_OK, main
from flsdesk.datafiles import DataFileError
from flsdesk.dataset import DefinitionSet, load_definitions, parse_definition
from flsdesk.exchange import export as ex
from flsdesk.paths import AppPaths, bundled_resources, resolve
from flsdesk.store import keys
from flsdesk.store.store import Store
from tests.core.test_followups import answers_for
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_USER,
    TODAY,
    clock_fixture,
    paths_fixture,
    pg_pending,
    store_fixture,
)
from tests.helpers.export_records import golden_records

BUNDLED = bundled_resources() / "datasets" / "flsdb-v3.toml"
RAW = tomllib.loads(BUNDLED.read_text(encoding="utf-8"))
CONTACT = {
    "contact_phone": "01632 960123",
    "contact_phone_2": "07700 900456",
    "gp_practice": "Riverside Surgery",
}


def test_the_contact_details_are_local_fields_named_by_roles(store: Store) -> None:
    for definition in store.definitions:
        for _field, role in fu.CONTACT_ROLES:
            question = definition.questions[definition.role(role)]
            assert question.local and question.tab == "patient"
            assert question.short_name is None  # no column of the export


def test_worklist_rows_and_call_sheet_carry_the_contact_details(store: Store) -> None:
    rid = store.new_record(answers_for(90, **CONTACT))
    bare = store.new_record(answers_for(95))
    rows = {r.record_id: r for r in fu.worklist(store.engine, store.definitions, TODAY)}
    row = rows[rid]
    assert (row.phone, row.phone_2, row.gp_practice) == tuple(CONTACT.values())
    assert row.phones == "01632 960123 / 07700 900456"
    assert (rows[bare].phone, rows[bare].gp_practice, rows[bare].phones) == (None, None, "")
    table = list(csv.reader(io.StringIO(fu.call_sheet_csv(list(rows.values())))))
    header = table[0]
    assert header[:5] == ["NHS number", "Name", "Phone", "Second phone", "GP practice"]
    by_name = {r[1]: dict(zip(header, r, strict=True)) for r in table[1:]}
    assert by_name["Patient 90"]["Phone"] == "01632 960123"
    assert by_name["Patient 90"]["Second phone"] == "07700 900456"
    assert by_name["Patient 90"]["GP practice"] == "Riverside Surgery"
    assert by_name["Patient 95"]["Phone"] == ""


def test_changing_the_phone_shows_at_once(store: Store) -> None:
    answers = answers_for(90, **CONTACT)
    rid = store.new_record(answers)
    store.save(rid, {**answers, "contact_phone": "01632 960999", "contact_phone_2": None})
    [row] = fu.worklist(store.engine, store.definitions, TODAY)
    assert (row.phone, row.phone_2) == ("01632 960999", None)


@pg_pending("the export (flsdesk/exchange)")
def test_the_export_never_carries_the_contact_details(store: Store, tmp_path: Path) -> None:
    records = golden_records()
    for answers in records:
        store.new_record({**answers, **CONTACT})
    out = tmp_path / "export.csv"
    result = ex.write(store, ex.prepare(store, ex.Scope.all()), out)
    assert result.batch_id
    text = out.read_bytes().decode("utf-8-sig", errors="replace")
    assert len(text.strip().splitlines()) > 1  # records went out
    for value in CONTACT.values():
        assert value not in text
    assert "Riverside" not in text and "960123" not in text


def test_the_list_is_ordered_by_urgency(store: Store) -> None:
    # Day counts of the 16-week window: due from day 84, overdue from 113, missed from 336 (the
    # 52-week window opens then).
    made = {day: store.new_record(answers_for(day)) for day in (60, 90, 110, 200, 120, 80, 100)}
    order = [
        r.record_id
        for r in fu.worklist(store.engine, store.definitions, TODAY)
        if r.window_id == "16"
    ]
    # Overdue, most days overdue first; due, fewest days left first; upcoming, soonest first.
    assert order == [made[d] for d in (200, 120, 110, 100, 90, 80, 60)]
    rows = fu.worklist(store.engine, store.definitions, TODAY)
    keys_ = [fu.urgency_key(r.state, r.days) for r in rows]
    assert keys_ == sorted(keys_)
    window_order = [
        r.record_id for r in fu.worklist(store.engine, store.definitions, TODAY, sort="window")
    ]
    assert window_order[0] == made[200]


def test_urgency_key_puts_missed_last() -> None:
    ranked = sorted(
        [(fu.MISSED, 3), (fu.UPCOMING, 5), (fu.DUE, 20), (fu.OVERDUE, 2), (fu.DUE, 1)],
        key=lambda s: fu.urgency_key(*s),
    )
    assert ranked == [(fu.OVERDUE, 2), (fu.DUE, 1), (fu.DUE, 20), (fu.UPCOMING, 5), (fu.MISSED, 3)]


def _parse(mutate) -> str | None:
    data = copy.deepcopy(RAW)
    mutate(data)
    try:
        parse_definition(data, Path("/somewhere/service.toml"))
    except DataFileError as exc:
        return str(exc)
    return None


def test_the_contact_roles_are_optional_but_must_name_local_fields() -> None:
    def drop(data):
        for _field, role in fu.CONTACT_ROLES:
            del data["roles"][role]

    assert _parse(drop) is None  # an older definition file without them still loads

    def exported(data):
        data["roles"]["contact_phone"] = "1.04"

    problem = _parse(exported)
    assert problem is not None
    assert "contact_phone" in problem and "local field" in problem

    def missing(data):
        data["roles"]["gp_practice"] = "surgery"

    problem = _parse(missing)
    assert problem is not None and "surgery" in problem and "does not exist" in problem


def test_a_definition_without_the_roles_lists_blank_contacts(store: Store) -> None:
    store.new_record(answers_for(90, **CONTACT))
    contact_roles = {role for _field, role in fu.CONTACT_ROLES}
    older = DefinitionSet(
        dataclasses.replace(d, roles={k: v for k, v in d.roles.items() if k not in contact_roles})
        for d in store.definitions
    )
    [row] = fu.worklist(store.engine, older, TODAY)
    assert (row.phone, row.phone_2, row.gp_practice) == (None, None, None)
    assert fu.call_sheet_row(row)[2:5] == ["", "", ""]


PASS = "correct horse battery"


@pytest.fixture
def cli_store(monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    paths = resolve(None)  # the per-test FLSDESK_DATA_DIR
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["init", "--site", "Test FLS"]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    key = keys.unlock_with_passphrase(paths.key_file, PASS)
    with Store.open(paths, key, TEST_USER, definitions=load_definitions(paths)) as s:
        s.new_record(answers_for(90, name="Due Person", **CONTACT))
        s.new_record(answers_for(200, name="Overdue Person"))
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    return paths


def test_cli_csv_and_table_carry_phone_and_gp(cli_store: AppPaths, tmp_path: Path, capsys):
    target = tmp_path / "calls.csv"
    assert main(["followups", "--on", TODAY.isoformat(), "--csv", str(target)]) == EXIT_OK
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert table[0] == list(fu.CALL_SHEET_COLUMNS)
    rows = [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    # By urgency: the overdue one first.
    assert [r["Name"] for r in rows] == ["Overdue Person", "Due Person"]
    assert rows[1]["Phone"] == "01632 960123"
    assert rows[1]["Second phone"] == "07700 900456"
    assert rows[1]["GP practice"] == "Riverside Surgery"
    capsys.readouterr()
    assert main(["followups", "--on", TODAY.isoformat()]) == EXIT_OK
    out = capsys.readouterr().out
    assert "GP practice" in out.splitlines()[0] and "Riverside Surgery" in out
    logs = "".join(p.read_text() for p in cli_store.log_dir.rglob("*") if p.is_file())
    assert "followups" in logs
    assert "960123" not in logs and "Riverside" not in logs  # no contact details in the log
