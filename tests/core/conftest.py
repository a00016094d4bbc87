"""Fixtures for the core tests: cheap key derivation, a keyring that never touches the real one."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backend
import pytest
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from flsdesk.store import keys


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
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at test strength: production parameters cost ~0.35 s per unlock."""
    monkeypatch.setattr(keys, "kdf_params", keys.TEST_KDF)


@pytest.fixture(autouse=True)
def _no_keyring() -> Iterator[None]:
    """By default no keyring at all (the headless-Linux case); never the developer's real one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)  # _no_keyring puts the previous one back afterwards
    return backend
