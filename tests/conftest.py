"""Test set-up shared by every test: Qt runs headless, nothing touches the user's real folders,
key derivation runs at test strength, and no test ever reaches the developer's real keyring."""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import tomllib
from typing import Any, BinaryIO

# Before anything imports Qt: without a display Qt would abort.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import keyring.backend
import pytest
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

# The throw-away PostgreSQL cluster of the team-mode tests (started only by a test that asks).
from tests.helpers.pg import pg_cluster, pg_database  # noqa: F401  (fixtures)


class _ParsedOnce:
    """Stands in for ``tomllib`` inside ``flsdesk.datafiles`` during the tests: every store
    opened loads the dataset definitions, reading the ~30 kB dataset TOML several times, and
    parsing it (pure-Python tomllib) was a fifth of the whole suite's time.

    Exact, not a stub: the file is still opened and read by the real ``read_toml`` each time, and
    the result is keyed by its bytes, so a changed or new override file is parsed afresh. Each
    caller gets its own fresh copy (a pickle round trip), so nothing it changes leaks into
    another. Bytes that fail to decode or parse are never cached: they raise what
    ``tomllib.load`` raises, as ``read_toml`` expects.
    """

    TOMLDecodeError = tomllib.TOMLDecodeError
    _LIMIT = 256  # distinct contents kept; past that start again (tests writing many variants)

    def __init__(self) -> None:
        self._parsed: dict[bytes, bytes] = {}

    def load(self, fh: BinaryIO, /) -> dict[str, Any]:
        raw = fh.read()
        parsed = self._parsed.get(raw)
        if parsed is None:
            # What tomllib.load does with the bytes it reads (same errors, same result).
            value = tomllib.loads(raw.decode())
            if len(self._parsed) >= self._LIMIT:
                self._parsed.clear()
            parsed = self._parsed[raw] = pickle.dumps(value)
        return pickle.loads(parsed)

    def loads(self, text: str, /) -> dict[str, Any]:
        return tomllib.loads(text)


class _DefinitionsBuiltOnce:
    """Stands in for ``load_definitions`` where the store calls it (every Store.create and
    Store.open): building the dataset model from the parsed files was the next tenth of the
    suite's time.

    Exact in the same way: the key is every dataset file in use (override folder included) with
    its source and its bytes, read afresh at each call, so a test that adds, changes or breaks an
    override gets what the real loader makes of it. A load that fails is never cached (it raises
    as the real one does), and each caller gets its own fresh copy (a pickle round trip), so
    nothing one store does to its definitions reaches another. Tests of the loader itself call
    the real function.
    """

    _LIMIT = 64

    def __init__(self, real: Any) -> None:
        self.real = real
        self._built: dict[tuple[tuple[str, str, bytes], ...], bytes] = {}

    @staticmethod
    def _files(paths: Any) -> tuple[tuple[str, str, bytes], ...] | None:
        from flsdesk.dataset import loader

        try:
            return tuple(
                (str(f.path), f.source, f.path.read_bytes()) for f in loader.dataset_files(paths)
            )
        except OSError:
            return None

    def __call__(self, paths: Any = None) -> Any:
        key = self._files(paths)
        built = self._built.get(key) if key is not None else None
        if built is not None:
            return pickle.loads(built)
        definitions = self.real(paths)
        # Only when nothing changed while it loaded: the cached copy is of exactly those files.
        if key is not None and self._files(paths) == key:
            if len(self._built) >= self._LIMIT:
                self._built.clear()
            self._built[key] = pickle.dumps(definitions)
        return definitions


@pytest.fixture(scope="session", autouse=True)
def _definitions_loaded_once():
    """Shared by every test of the session (per xdist worker): see the two classes above."""
    from flsdesk import datafiles
    from flsdesk.store import store

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datafiles, "tomllib", _ParsedOnce())
        patch.setattr(store, "load_definitions", _DefinitionsBuiltOnce(store.load_definitions))
        yield


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A secure-looking keyring that lives in a dict, for tests only."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.items[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


@pytest.fixture(autouse=True)
def _isolated_folders(tmp_path_factory, monkeypatch):
    """Every test gets its own data and config folders and no unlock secrets from the shell."""
    base = tmp_path_factory.mktemp("flsdesk-home")
    monkeypatch.setenv("FLSDESK_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("FLSDESK_CONFIG_DIR", str(base / "config"))
    for var in (
        "FLSDESK_PASSPHRASE",
        "FLSDESK_RECOVERY_KEY",
        "FLSDESK_NEW_PASSPHRASE",
        "FLSDESK_INITIALS",
    ):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch):
    """cli.main and the window install log handlers and excepthooks: put everything back, so no
    test leaves a handler writing into another test's (deleted) folder."""
    from flsdesk import logs

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(logs, "_configured_path", logs._configured_path)
    saved = {}
    for name in ("flsdesk", "ui"):
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch):
    """Argon2id at test strength: production parameters cost ~0.35 s per unlock."""
    from flsdesk.store import keys

    monkeypatch.setattr(keys, "kdf_params", keys.TEST_KDF)


@pytest.fixture(autouse=True)
def _no_keyring():
    """By default no keyring at all (the headless-Linux case); never the developer's real one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring():
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
