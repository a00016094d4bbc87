"""Test set-up shared by every test: Qt runs headless, nothing touches the user's real folders,
key derivation runs at test strength, and no test ever reaches the developer's real keyring."""

from __future__ import annotations

import logging
import os
import sys
import threading

# Before anything imports Qt: without a display Qt would abort.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import keyring.backend
import pytest
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

# The throw-away PostgreSQL cluster of the team-mode tests (started only by a test that asks).
from tests.helpers.pg import pg_cluster, pg_database  # noqa: F401  (fixtures)


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
