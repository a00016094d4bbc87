"""Opening a store after a restore was cut short (power failure between the two renames)."""

from __future__ import annotations

import os

from flsdesk import session
from flsdesk.paths import resolve
from flsdesk.store.backup import _before, _store_files


def test_open_puts_back_the_store_a_cut_short_restore_moved_aside():
    paths = resolve(None)
    created = session.create(paths, "correct horse battery staple", "AB", "Northtown FLS", "")
    record_id = created.store.new_record({"1.01": "9434765919", "1.09": "2024-03-01"})
    created.store.close()
    # What a restore does first: move the current store aside. Then the power goes.
    for path in _store_files(paths):
        if path.exists():  # the WAL is gone after a clean close
            os.replace(path, _before(path))
    assert not paths.database.exists()

    store = session.open_store(paths, created.data_key, "AB")
    try:
        assert store.load(record_id).answers["1.01"] == "9434765919"
    finally:
        store.close()
    assert not any(_before(p).exists() for p in _store_files(paths))
