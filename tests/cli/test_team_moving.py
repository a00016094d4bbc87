"""Moving in and out: a single-PC store into a team database (``team migrate-from-local``), and
back out through ``backup`` and ``restore``, losing nothing on the way."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.exchange import batches, optout
from flsdesk.exchange import export as ex
from flsdesk.followups import log_call_attempt
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import keys, team
from flsdesk.store.address import StoreAddress
from flsdesk.store.engine import create_engine
from flsdesk.store.store import Store
from tests.helpers.conftest_records import nhs_number
from tests.helpers.export_records import golden_records
from tests.helpers.team_db import (
    ADMIN_PASSWORD,
    ENTRY_PASSWORD,
    TeamDb,
    team_db_fixture,  # noqa: F401  (fixture)
)

LOCAL_PASS = "correct horse battery"
BACKUP_PASS = "a different backup passphrase"
RECOVERY = re.compile(r"\b[A-Z2-7]{5}(?:-[A-Z2-7]{5}){7}\b")


@pytest.fixture(autouse=True)
def _no_team_environment(monkeypatch):
    for name in ("FLSDESK_STORE", "FLSDESK_DB_PASSWORD", "FLSDESK_NEW_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def paths() -> AppPaths:
    return resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py


def _unchecked(answers: dict[str, Any], nhs: str) -> dict[str, Any]:
    out = {k: v for k, v in answers.items() if k not in ("optout_status", "optout_date")}
    return {**out, "1.01": nhs}


def _rich_local_store(paths: AppPaths, out_dir: Path) -> dict[str, int]:
    """A store with something in every table: edited and deleted records, a sent batch, a call
    attempt, an opt-out list out for checking, settings."""
    from flsdesk import session

    created = session.create(paths, LOCAL_PASS, "AB", "Local FLS", "RXX")
    store = created.store
    try:
        ids = [store.new_record(a) for a in golden_records()]
        late = store.new_record(_unchecked(golden_records()[2], nhs_number(555666777)))
        store.set_setting("require_optout_check", False)
        store.set_setting("upload_url", "https://upload.example.nhs.uk/in")
        edited = store.load(ids[0])
        store.save(ids[0], {**edited.answers, "name": "Renamed Patient"}, "typo")
        sent = ex.write(store, ex.prepare(store, ex.Scope.all()), out_dir / "sent.csv")
        batches.mark_uploaded(store, str(sent.batch_id), store.today())
        store.delete(ids[1], "Test record")
        log_call_attempt(store, ids[2], "16", store.today(), "No answer")
        assert optout.write_unchecked_list(store, out_dir / "for-ig.csv").count >= 1
        return {"deleted": ids[1], "edited": ids[0], "late": late}
    finally:
        store.close()


def _dump(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in key order; the meta facts each database keeps about
    itself (its schema steps, its checks) left out."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table in team.tables_in_order():
        rows = conn.execute(select(table).order_by(*table.primary_key.columns))
        found[table.name] = [dict(r._mapping) for r in rows]
    found["meta"] = [
        r for r in found["meta"] if not re.match(r"^(schema_|last_full_check)", r["key"])
    ]
    return found


def _dump_local(paths: AppPaths, passphrase: str) -> dict[str, list[dict[str, Any]]]:
    key = keys.unlock_with_passphrase(paths.key_file, passphrase)
    engine = create_engine(paths.database, key)
    try:
        with engine.connect() as conn:
            return _dump(conn)
    finally:
        engine.dispose()


def _as_admin(monkeypatch, t: TeamDb) -> list[str]:
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", ADMIN_PASSWORD)
    return ["--store", t.address(t.admin)]


def test_local_to_team_to_backup_to_local_loses_nothing(
    team_db: TeamDb, paths, tmp_path, monkeypatch, capsys
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    ids = _rich_local_store(paths, out_dir)
    before = _dump_local(paths, LOCAL_PASS)
    assert all(before[t] for t in ("records", "audit", "export_batches", "export_rows"))
    assert before["call_attempts"] and before["optout_lists"] and before["export_row_cache"]

    monkeypatch.setenv("FLSDESK_PASSPHRASE", LOCAL_PASS)  # unlocks the local store
    store_option = _as_admin(monkeypatch, team_db)
    assert main([*store_option, "team", "migrate-from-local"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert f"{len(before['records'])} records" in out
    assert "unchanged" in out
    # The local store was only read.
    assert _dump_local(paths, LOCAL_PASS) == before

    # On the team database: everything, ids kept; the deleted record can still be restored,
    # and a new record gets a fresh id (the counters were moved past the copied ones).
    with team_db.superuser_engine().connect() as conn:
        on_team = _dump(conn)
    for table in before:
        if table != "meta":
            assert on_team[table] == before[table], table
    assert {r["key"]: r["value"] for r in before["meta"]}.items() <= {
        r["key"]: r["value"] for r in on_team["meta"]
    }.items()
    where = StoreAddress.parse(team_db.address(team_db.entry))
    with Store.open_team(where, ENTRY_PASSWORD, paths=resolve(tmp_path / "pc2")) as store:
        new_id = store.new_record(_unchecked(golden_records()[3], nhs_number(777666555)))
        assert new_id > max(r["id"] for r in before["records"])
        assert store.load(ids["edited"]).answers["name"] == "Renamed Patient"
        assert [r.id for r in store.deleted_records()] == [ids["deleted"]]
    with team_db.superuser_engine().connect() as conn:
        on_team = _dump(conn)

    # Out again: the same backup file format, under its own passphrase and recovery key.
    monkeypatch.delenv("FLSDESK_PASSPHRASE")
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", BACKUP_PASS)
    backups = tmp_path / "backups"
    assert main([*store_option, "backup", str(backups)]) == EXIT_OK
    out, err = capsys.readouterr()
    made = Path(out.strip().splitlines()[-1])
    assert made.parent == backups and made.suffix == ".fdbk"
    recovery = RECOVERY.search(err)
    assert recovery is not None
    assert ADMIN_PASSWORD not in out + err and BACKUP_PASS not in out + err

    # Restored on another PC as its local store: every table as it was on the team database.
    elsewhere = resolve(tmp_path / "another-pc")
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    monkeypatch.delenv("FLSDESK_DB_PASSWORD")
    monkeypatch.setenv("FLSDESK_PASSPHRASE", BACKUP_PASS)
    code = main(["--data-dir", str(elsewhere.data_dir), "restore", str(made), "--yes"])
    assert code == EXIT_OK, capsys.readouterr().err
    capsys.readouterr()
    after = _dump_local(elsewhere, BACKUP_PASS)
    for table in on_team:
        if table != "meta":
            assert after[table] == on_team[table], table
    assert {r["key"]: r["value"] for r in before["meta"]}.items() <= {
        r["key"]: r["value"] for r in after["meta"]
    }.items()
    assert len(after["records"]) == len(before["records"]) + 1
    assert len(after["audit"]) == len(on_team["audit"]) > len(before["audit"])
    # The recovery key opens it too, and the deleted record is still restorable there.
    key = keys.unlock_with_recovery_key(elsewhere.key_file, recovery.group(0))
    with Store.open(elsewhere, key, "TS (tester)") as store:
        store.restore(ids["deleted"])
        assert store.load(ids["deleted"]).deleted_at is None


def test_a_team_database_holding_records_is_refused_and_left_alone(
    team_db: TeamDb, paths, tmp_path, monkeypatch, capsys
):
    where = StoreAddress.parse(team_db.address(team_db.entry))
    with Store.open_team(where, ENTRY_PASSWORD, paths=resolve(tmp_path / "pc2")) as store:
        for n in range(3):
            store.new_record(_unchecked(golden_records()[3], nhs_number(777666000 + n)))
    with team_db.superuser_engine().connect() as conn:
        held = _dump(conn)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _rich_local_store(paths, out_dir)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", LOCAL_PASS)
    assert main([*_as_admin(monkeypatch, team_db), "team", "migrate-from-local"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "already holds 3 record(s)" in err and "nothing was copied" in err
    with team_db.superuser_engine().connect() as conn:
        assert _dump(conn) == held


def test_moving_in_is_all_or_nothing(team_db: TeamDb, paths, tmp_path, monkeypatch, capsys):
    """The server fails late in the copy (its disk fills while the export rows go in): the
    records and audit entries already sent in the same transaction are gone too."""
    team_db.db.cluster.sql(
        """
        CREATE FUNCTION fail_late() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;
        CREATE TRIGGER fail_late BEFORE INSERT ON export_rows
        FOR EACH ROW EXECUTE FUNCTION fail_late();
        """,
        team_db.name,
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _rich_local_store(paths, out_dir)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", LOCAL_PASS)
    assert main([*_as_admin(monkeypatch, team_db), "team", "migrate-from-local"]) == EXIT_STORE
    capsys.readouterr()
    with team_db.superuser_engine().connect() as conn:
        for table in ("records", "audit", "export_batches", "call_attempts", "optout_lists"):
            assert conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
        assert conn.scalar(text("SELECT value FROM settings WHERE key = 'service_name'")) == (
            '"Team FLS"'
        )


def test_only_an_admin_moves_a_store_in(team_db: TeamDb, paths, tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _rich_local_store(paths, out_dir)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", LOCAL_PASS)
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", ENTRY_PASSWORD)
    code = main(["--store", team_db.address(team_db.entry), "team", "migrate-from-local"])
    assert code == EXIT_STORE
    assert "needs the admin role" in capsys.readouterr().err
    with team_db.superuser_engine().connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM records")) == 0
