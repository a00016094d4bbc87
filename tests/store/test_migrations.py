"""Schema migrations: fixture databases of released schemas, the backup first, newer refused."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import inspect

from flsdesk.store import migrations
from flsdesk.store.engine import connect, create_engine
from flsdesk.store.errors import NewerSchema, StoreDamaged, StoreError
from flsdesk.store.migrations import CURRENT_SCHEMA, STEPS, Step, migrate
from flsdesk.store.models import Base
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    FakeClock,
    clock_fixture,
    paths_fixture,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RELEASED = sorted(FIXTURES.glob("store-schema-*.db"))


def _user_version(db: Path, key: bytes) -> int:
    conn = connect(db, key)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _install_fixture(fixture: Path, paths) -> tuple[dict, bytes]:
    manifest = json.loads(fixture.with_suffix(".json").read_text())
    paths.data_dir.mkdir(parents=True)
    shutil.copyfile(fixture, paths.database)
    return manifest, bytes.fromhex(manifest["test_only_key_hex"])


def test_the_fixtures_are_of_known_schemas() -> None:
    # Each released schema gets its fixture (make_fixture_store.py N) when it is released.
    assert FIXTURES / "store-schema-1.db" in RELEASED
    for fixture in RELEASED:
        manifest = json.loads(fixture.with_suffix(".json").read_text())
        assert fixture.stem == f"store-schema-{manifest['schema']}"
        assert 1 <= manifest["schema"] <= CURRENT_SCHEMA


_CONSTRAINT = ("primarykey", "unique(", "foreignkey", "check(", "constraint")


def _shape(sql: str) -> object:
    """A table's columns in order and its constraints as a set: ALTER TABLE ADD COLUMN appends
    the new column after the constraints, where the models' DDL puts it before them."""
    text = re.sub(r"\s+", "", sql).replace('"', "").lower()
    head, _, body = text.partition("(")
    if not head.startswith("createtable"):
        return text
    items, depth, item = [], 0, ""
    for ch in body[:-1]:  # without the closing parenthesis
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
            continue
        depth += (ch == "(") - (ch == ")")
        item += ch
    items.append(item)
    columns = [i for i in items if not i.startswith(_CONSTRAINT)]
    constraints = sorted(i for i in items if i.startswith(_CONSTRAINT))
    return head, columns, constraints


def _schema_sql(conn) -> dict[str, object]:
    """Tables and indexes, whitespace and quoting normalised (see ``_shape``)."""
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL"
    ).all()
    return {name: _shape(sql) for name, sql in rows}


def test_the_migrated_schema_is_what_the_models_describe(paths, clock: FakeClock) -> None:
    Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock).close()
    engine = create_engine(paths.database, TEST_KEY)
    reference = sqlalchemy.create_engine("sqlite://")
    try:
        Base.metadata.create_all(reference)
        with engine.connect() as migrated, reference.connect() as modelled:
            assert _schema_sql(migrated) == _schema_sql(modelled)
            triggers = migrated.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            ).scalars()
            assert list(triggers) == ["audit_no_delete", "audit_no_update"]
    finally:
        engine.dispose()
        reference.dispose()
    assert _user_version(paths.database, TEST_KEY) == CURRENT_SCHEMA


@pytest.mark.parametrize("fixture", RELEASED, ids=lambda p: p.stem)
def test_released_fixture_migrates_with_its_records_intact(fixture: Path, paths) -> None:
    manifest, key = _install_fixture(fixture, paths)
    assert paths.database.read_bytes()[:16] != b"SQLite format 3\x00"
    made = datetime.fromisoformat(manifest["made_at"])
    clock = FakeClock(made + timedelta(days=1))  # before the deleted record's purge
    with Store.open(paths, key, TEST_USER, clock=clock) as s:
        with s.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, uuid, deleted_reason FROM records ORDER BY id"
            ).all()
            audit_count = conn.exec_driver_sql("SELECT count(*) FROM audit").scalar()
        assert {u for _, u, _ in rows} == set(manifest["records"])
        for rid, uuid, deleted_reason in rows:
            expected = manifest["records"][uuid]
            record = s.load(rid)
            assert record.answers == expected["answers"]
            assert deleted_reason == expected["deleted_reason"]
        assert audit_count == manifest["audit_entries"]
        for name, value in manifest["settings"].items():
            assert s.get_setting(name) == value
        assert len(s.possible_duplicates()) >= 1
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert _user_version(paths.database, key) == CURRENT_SCHEMA


def _fake_step_2(conn) -> None:
    conn.execute("ALTER TABLE records ADD COLUMN extra_flag BOOLEAN NOT NULL DEFAULT 0")
    conn.execute("UPDATE records SET extra_flag = 1 WHERE status = 'Needs correction'")


def test_a_future_step_runs_after_a_backup(paths, monkeypatch) -> None:
    manifest, key = _install_fixture(RELEASED[-1], paths)
    clock = FakeClock(datetime.fromisoformat(manifest["made_at"]) + timedelta(days=1))
    steps = (*STEPS, Step(CURRENT_SCHEMA + 1, "test-only extra column", _fake_step_2))
    monkeypatch.setattr(migrations, "STEPS", steps)
    with Store.open(paths, key, TEST_USER, clock=clock) as s:
        with s.engine.connect() as conn:
            flagged = conn.exec_driver_sql("SELECT count(*) FROM records WHERE extra_flag").scalar()
        assert flagged == sum(
            1 for r in manifest["records"].values() if r["status"] == "Needs correction"
        )
        assert s.live_count() == len(manifest["records"]) - 1
    assert _user_version(paths.database, key) == CURRENT_SCHEMA + 1
    [backup] = list(paths.backups_dir.glob("before-schema-upgrade-from-*.db"))
    assert backup.read_bytes()[:16] != b"SQLite format 3\x00"
    assert _user_version(backup, key) == manifest["schema"]  # a copy of the old schema
    conn = connect(backup, key, wal=False)
    try:
        count = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        conn.close()
    assert count == len(manifest["records"])


def test_a_failing_step_leaves_the_previous_schema(paths) -> None:
    _manifest, key = _install_fixture(RELEASED[-1], paths)

    def broken(conn) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("step failed")

    engine = create_engine(paths.database, key)
    try:
        with pytest.raises(RuntimeError, match="step failed"):
            migrate(engine, steps=(*STEPS, Step(CURRENT_SCHEMA + 1, "broken", broken)))
        assert "half_done" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert _user_version(paths.database, key) == CURRENT_SCHEMA


def test_a_newer_database_is_refused_and_left_alone(paths, clock: FakeClock) -> None:
    Store.create(paths, TEST_KEY, TEST_USER, "Test FLS", clock=clock).close()
    conn = connect(paths.database, TEST_KEY)
    conn.execute(f"PRAGMA user_version = {CURRENT_SCHEMA + 5}")
    conn.commit()
    conn.close()
    before = paths.database.read_bytes()
    with pytest.raises(NewerSchema, match="newer version of flsdesk") as caught:
        Store.open(paths, TEST_KEY, TEST_USER, clock=clock)
    assert isinstance(caught.value, StoreError)  # exit 3 in the CLI
    assert paths.database.read_bytes() == before
    assert not paths.backups_dir.exists() or not any(paths.backups_dir.iterdir())
    # The lock was released: once the schema is back, it opens.
    conn = connect(paths.database, TEST_KEY)
    conn.execute(f"PRAGMA user_version = {CURRENT_SCHEMA}")
    conn.commit()
    conn.close()
    Store.open(paths, TEST_KEY, TEST_USER, clock=clock).close()


def test_a_database_with_foreign_tables_is_not_taken_over(paths, clock: FakeClock) -> None:
    paths.data_dir.mkdir(parents=True)
    conn = connect(paths.database, TEST_KEY)
    conn.execute("CREATE TABLE something_else (x INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreDamaged, match="not an flsdesk store"):
        Store.open(paths, TEST_KEY, TEST_USER, clock=clock)


def test_steps_must_be_numbered_without_gaps(paths) -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    with pytest.raises(ValueError, match="without gaps"):
        migrate(engine, steps=(Step(2, "x", lambda c: None),))


def test_with_a_key_file_the_backup_is_a_full_backup_file(paths, monkeypatch) -> None:
    from flsdesk.store import backup, keys

    manifest, key = _install_fixture(RELEASED[-1], paths)
    doc, _recovery = keys.build_key_document(key, "fixture passphrase")
    keys.write_key_document(paths.key_file, doc)
    clock = FakeClock(datetime.fromisoformat(manifest["made_at"]) + timedelta(days=1))
    steps = (*STEPS, Step(CURRENT_SCHEMA + 1, "test-only extra column", _fake_step_2))
    monkeypatch.setattr(migrations, "STEPS", steps)
    Store.open(paths, key, TEST_USER, clock=clock).close()
    [made] = list(paths.backups_dir.glob(f"before-schema-upgrade-from-*{backup.SUFFIX}"))
    info = backup.read_info(made)  # verifies size and SHA-256
    assert info.path == made
