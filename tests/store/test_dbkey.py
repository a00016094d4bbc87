"""Telling "this key file is not this database's" and "the first page is damaged" apart from a
wrong passphrase, from the page checksums of real SQLCipher files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flsdesk.paths import resolve
from flsdesk.store import dbkey, unlock
from flsdesk.store.errors import StoreDamaged
from flsdesk.store.store import Store
from tests.helpers.conftest_records import TEST_KEY, TEST_USER, complete_answers, nhs_number

OTHER_KEY = bytes(range(1, 33))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    paths = resolve(tmp_path / "data")
    with Store.create(paths, TEST_KEY, TEST_USER, "Key FLS") as store:
        for i in range(20):
            store.new_record(complete_answers(nhs_number(600000000 + 10 * i)))
    return paths.database


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x40
    path.write_bytes(bytes(raw))


def test_the_right_key_fits_and_sqlcipher_agrees(db: Path) -> None:
    assert dbkey.key_fits(db, TEST_KEY) is dbkey.Fit.FITS
    assert not dbkey.sqlcipher_refuses(db, TEST_KEY)


def test_another_key_fits_no_page(db: Path) -> None:
    assert dbkey.key_fits(db, OTHER_KEY) is dbkey.Fit.NOT_THIS_DATABASE
    assert dbkey.sqlcipher_refuses(db, OTHER_KEY)


@pytest.mark.parametrize("offset", [16, 100, 2000, 4000])
def test_a_damaged_first_page_is_told_apart(db: Path, offset: int) -> None:
    _flip(db, offset)
    assert dbkey.key_fits(db, TEST_KEY) is dbkey.Fit.FIRST_PAGE_DAMAGED
    assert dbkey.sqlcipher_refuses(db, TEST_KEY)  # SQLCipher cannot tell: "not a database"


def test_damage_past_the_first_page_is_left_to_the_opening(db: Path) -> None:
    _flip(db, dbkey.PAGE_SIZE + 100)
    assert dbkey.key_fits(db, TEST_KEY) is dbkey.Fit.FITS


def test_no_verdict_on_what_is_not_a_question_of_the_key(tmp_path: Path, db: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    plain = tmp_path / "plain.db"
    plain.write_bytes(b"SQLite format 3\x00" + os.urandom(dbkey.PAGE_SIZE * 2))
    one_page = tmp_path / "one.db"
    one_page.write_bytes(db.read_bytes()[: dbkey.PAGE_SIZE])
    for path in (empty, plain, one_page, tmp_path / "missing.db", tmp_path):
        assert dbkey.key_fits(path, OTHER_KEY) is dbkey.Fit.UNKNOWN, path


def test_a_store_with_its_pages_still_in_the_wal_is_never_refused(tmp_path: Path) -> None:
    """A copy killed before its checkpoint: new pages in -wal, the main file what it was."""
    paths = resolve(tmp_path / "data")
    store = Store.create(paths, TEST_KEY, TEST_USER, "WAL FLS")
    try:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        for i in range(30):
            store.new_record(complete_answers(nhs_number(610000000 + 10 * i)))
        assert Path(f"{paths.database}-wal").stat().st_size > 0
        assert dbkey.key_fits(paths.database, TEST_KEY) is dbkey.Fit.FITS
        assert dbkey.key_fits(paths.database, OTHER_KEY) is dbkey.Fit.NOT_THIS_DATABASE
        unlock.check_key_opens_database(paths, TEST_KEY)  # no refusal
        with pytest.raises(StoreDamaged, match="does not belong"):
            unlock.check_key_opens_database(paths, OTHER_KEY)
    finally:
        store.close()
