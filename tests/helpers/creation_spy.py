"""A spy on Store.create for the store-creation tests (core and wizard)."""

from __future__ import annotations

import errno

import pytest

from flsdesk.paths import AppPaths
from flsdesk.store.lock import LOCK_NAME
from flsdesk.store.store import Store


def store_files(paths: AppPaths) -> list[str]:
    """The store's files: the database (and its -wal, -shm, -journal) and the key file. The
    empty lock file is the lock's, not the store's: it stays, as it does after any close."""
    if not paths.data_dir.exists():
        return []
    return sorted(
        p.name
        for p in paths.data_dir.iterdir()
        if p.name.startswith("flsdesk.") and p.name != LOCK_NAME
    )


class CreationSpy:
    """Wraps the real Store.create: records the audit user it was given and, while ``fail`` is
    set, lets it make the database and then fails as a disk might, half-way through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = Store.create
        self.users: list[str] = []
        self.fail = False
        self.made_files: list[str] = []
        spy = self

        def create(cls, paths, key, user, *args, **kwargs):  # type: ignore[no-untyped-def]
            spy.users.append(user)
            store = spy.real(paths, key, user, *args, **kwargs)
            if not spy.fail:
                return store
            store.close()
            spy.made_files = store_files(paths)
            raise OSError(errno.EIO, "Input/output error", str(paths.database))

        monkeypatch.setattr(Store, "create", classmethod(create))
