"""The key file: passphrase and recovery slots, passphrase change, the keyring policy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keyring
import keyring.backend
import pytest
from keyring.backends import chainer

from flsdesk.cli import prompts
from flsdesk.paths import resolve
from flsdesk.store import keys
from flsdesk.store.errors import KeyringUnavailable, NoStore, StoreDamaged, StoreError, WrongKey
from tests.conftest import MemoryKeyring

PASS = "correct horse battery"
RECOVERY_SHAPE = re.compile(r"^[A-Z2-7]{5}(-[A-Z2-7]{5}){7}$")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "flsdesk.key"


def test_create_and_unlock_with_passphrase(key_file: Path) -> None:
    data_key, recovery = keys.create_key_file(key_file, PASS)
    assert len(data_key) == 32
    assert RECOVERY_SHAPE.match(recovery)
    assert keys.unlock_with_passphrase(key_file, PASS) == data_key
    raw = key_file.read_bytes()
    assert data_key.hex().encode() not in raw and PASS.encode() not in raw
    assert recovery.replace("-", "").encode() not in raw
    if os.name == "posix":
        assert key_file.stat().st_mode & 0o777 == 0o600


def test_create_refuses_an_existing_key_file(key_file: Path) -> None:
    keys.create_key_file(key_file, PASS)
    before = key_file.read_bytes()
    with pytest.raises(FileExistsError):
        keys.create_key_file(key_file, "another passphrase")
    assert key_file.read_bytes() == before


def test_short_passphrase_refused(key_file: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        keys.create_key_file(key_file, "short")
    assert not key_file.exists()


def test_wrong_passphrase_changes_nothing(key_file: Path) -> None:
    keys.create_key_file(key_file, PASS)
    before = key_file.read_bytes()
    with pytest.raises(WrongKey, match="passphrase is not right"):
        keys.unlock_with_passphrase(key_file, "correct horse battery!")
    assert key_file.read_bytes() == before


def test_missing_key_file_is_no_store(key_file: Path) -> None:
    with pytest.raises(NoStore):
        keys.unlock_with_passphrase(key_file, PASS)


def test_recovery_key_typed_loosely(key_file: Path) -> None:
    data_key, recovery = keys.create_key_file(key_file, PASS)
    typed = "  " + " ".join(recovery.lower().split("-")) + "\n"
    assert keys.unlock_with_recovery_key(key_file, typed) == data_key
    assert keys.unlock_with_recovery_key(key_file, recovery.replace("-", "")) == data_key


def test_recovery_key_typo_is_reported_as_typo(key_file: Path) -> None:
    _, recovery = keys.create_key_file(key_file, PASS)
    first = recovery[0]
    typo = ("B" if first != "B" else "C") + recovery[1:]
    with pytest.raises(WrongKey, match="typo"):
        keys.unlock_with_recovery_key(key_file, typo)


def test_checksum_catches_every_single_character_change() -> None:
    code = keys.new_recovery_key().replace("-", "")
    assert keys.normalize_recovery_key(code) == code
    for i in range(len(code)):
        for ch in "AZ27Q":
            if ch != code[i]:
                assert keys.normalize_recovery_key(code[:i] + ch + code[i + 1 :]) is None


def test_another_stores_recovery_key_is_wrong(key_file: Path, tmp_path: Path) -> None:
    keys.create_key_file(key_file, PASS)
    _, other = keys.create_key_file(tmp_path / "other.key", PASS)
    with pytest.raises(WrongKey, match="recovery key is not right"):
        keys.unlock_with_recovery_key(key_file, other)


def test_change_passphrase_rewraps_only(key_file: Path) -> None:
    data_key, recovery = keys.create_key_file(key_file, PASS)
    recovery_slot = json.loads(key_file.read_text())["slots"]["recovery"]
    keys.change_passphrase(key_file, data_key, "a new passphrase")
    assert keys.unlock_with_passphrase(key_file, "a new passphrase") == data_key
    with pytest.raises(WrongKey):
        keys.unlock_with_passphrase(key_file, PASS)
    assert keys.unlock_with_recovery_key(key_file, recovery) == data_key
    assert json.loads(key_file.read_text())["slots"]["recovery"] == recovery_slot
    assert not list(key_file.parent.glob(".flsdesk-key-*"))  # no temp file left behind
    if os.name == "posix":
        assert key_file.stat().st_mode & 0o777 == 0o600


def test_change_passphrase_with_a_foreign_key_refused(key_file: Path) -> None:
    keys.create_key_file(key_file, PASS)
    before = key_file.read_bytes()
    with pytest.raises(WrongKey):
        keys.change_passphrase(key_file, os.urandom(32), "a new passphrase")
    assert key_file.read_bytes() == before


def test_replace_recovery_key(key_file: Path) -> None:
    data_key, old = keys.create_key_file(key_file, PASS)
    new = keys.replace_recovery_key(key_file, data_key)
    assert keys.unlock_with_recovery_key(key_file, new) == data_key
    with pytest.raises(WrongKey):
        keys.unlock_with_recovery_key(key_file, old)
    assert keys.unlock_with_passphrase(key_file, PASS) == data_key


def test_kdf_parameters_are_stored_and_used(key_file: Path) -> None:
    keys.create_key_file(key_file, PASS)
    kdf = json.loads(key_file.read_text())["slots"]["passphrase"]["kdf"]
    assert kdf["name"] == "argon2id"
    assert (kdf["iterations"], kdf["lanes"], kdf["memory_cost"]) == (1, 1, 8)  # the test seam


def test_doctored_kdf_parameters_refused(key_file: Path) -> None:
    keys.create_key_file(key_file, PASS)
    doc = json.loads(key_file.read_text())
    doc["slots"]["passphrase"]["kdf"]["memory_cost"] = 1 << 40
    key_file.write_text(json.dumps(doc))
    with pytest.raises(StoreDamaged):
        keys.unlock_with_passphrase(key_file, PASS)


def test_damaged_key_file(key_file: Path) -> None:
    key_file.write_text("{not json")
    with pytest.raises(StoreDamaged):
        keys.unlock_with_passphrase(key_file, PASS)


def test_production_kdf_parameters_are_strong() -> None:
    p = keys.PRODUCTION_KDF
    assert (p.iterations, p.lanes, p.memory_cost) == (4, 4, 128 * 1024)
    assert p.memory_cost >= 64 * 1024 and p.iterations >= 3
    # The seam is only the fixture: a fresh interpreter uses the production parameters.
    code = "from flsdesk.store import keys; assert keys.kdf_params == keys.PRODUCTION_KDF"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


# --------------------------------------------------------------------------- keyring


def test_no_keyring_backend_still_unlocks_and_refuses_to_remember(key_file: Path) -> None:
    data_key, _ = keys.create_key_file(key_file, PASS)
    usable, why = keys.keyring_status()
    assert not usable and "no secure keyring" in why
    with pytest.raises(KeyringUnavailable, match="ask for the passphrase each time"):
        keys.remember_key(key_file, data_key)
    assert keys.remembered_key(key_file) is None
    keys.forget_key(key_file)  # harmless
    assert keys.unlock_with_passphrase(key_file, PASS) == data_key


def test_memory_keyring_remember_and_forget(key_file: Path, memory_keyring: MemoryKeyring) -> None:
    data_key, _ = keys.create_key_file(key_file, PASS)
    assert keys.keyring_status()[0]
    keys.remember_key(key_file, data_key)
    assert len(memory_keyring.items) == 1
    assert keys.remembered_key(key_file) == data_key
    keys.forget_key(key_file)
    assert memory_keyring.items == {}
    assert keys.remembered_key(key_file) is None
    keys.forget_key(key_file)  # twice is fine


def test_stale_remembered_key_ignored(key_file: Path, memory_keyring: MemoryKeyring) -> None:
    keys.create_key_file(key_file, PASS)
    memory_keyring.set_password(keys.KEYRING_SERVICE, keys.store_id(key_file), "00" * 32)
    assert keys.remembered_key(key_file) is None


class _PlainFileKeyring(MemoryKeyring):
    priority = 0.5  # type: ignore[assignment]  # like keyrings.alt's plaintext file


def test_low_priority_backend_not_trusted(key_file: Path) -> None:
    data_key, _ = keys.create_key_file(key_file, PASS)
    backend = _PlainFileKeyring()
    keyring.set_keyring(backend)
    assert not keys.keyring_status()[0]
    with pytest.raises(KeyringUnavailable):
        keys.remember_key(key_file, data_key)
    assert backend.items == {}


def test_empty_chainer_not_trusted() -> None:
    backend = chainer.ChainerBackend()
    backend.__dict__["backends"] = []  # what a headless machine ends up with
    keyring.set_keyring(backend)
    assert not keys.keyring_status()[0]


# --------------------------------------------------------------------------- CLI unlock order


def _store(tmp_path: Path) -> tuple[object, bytes, str]:
    paths = resolve(tmp_path / "data")
    data_key, recovery = keys.create_key_file(paths.key_file, PASS)
    paths.database.write_bytes(bytes(4096))  # one page: an empty file is a damaged store
    return paths, data_key, recovery


def test_unlock_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring) -> None:
    paths, data_key, recovery = _store(tmp_path)
    with pytest.raises(StoreError, match="FLSDESK_PASSPHRASE"):
        prompts.unlock(paths, interactive=False)
    monkeypatch.setenv("FLSDESK_RECOVERY_KEY", recovery.lower())
    assert prompts.unlock(paths, interactive=False) == data_key
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "wrong passphrase")
    with pytest.raises(WrongKey):  # the passphrase variable wins, and is not retried
        prompts.unlock(paths, interactive=False)
    monkeypatch.delenv("FLSDESK_PASSPHRASE")
    monkeypatch.delenv("FLSDESK_RECOVERY_KEY")
    keys.remember_key(paths.key_file, data_key)
    assert prompts.unlock(paths, interactive=False) == data_key


def test_unlock_prompt_takes_passphrase_or_recovery_key(tmp_path: Path) -> None:
    paths, data_key, recovery = _store(tmp_path)
    answers = iter(["nope nope", recovery.lower()])
    assert prompts.unlock(paths, interactive=True, prompt=lambda _: next(answers)) == data_key
    with pytest.raises(WrongKey):
        prompts.unlock(paths, interactive=True, prompt=lambda _: "always wrong")


def test_unlock_without_store(tmp_path: Path) -> None:
    with pytest.raises(NoStore, match="flsdesk init"):
        prompts.unlock(resolve(tmp_path / "nothing"), interactive=False)


def test_new_passphrase_asked_twice() -> None:
    answers = iter(["a new passphrase", "a new passphrase"])
    assert prompts.new_passphrase(interactive=True, prompt=lambda _: next(answers)) == (
        "a new passphrase"
    )
    answers = iter(["a new passphrase", "a different one"])
    with pytest.raises(ValueError, match="not the same"):
        prompts.new_passphrase(interactive=True, prompt=lambda _: next(answers))
    with pytest.raises(ValueError, match="FLSDESK_NEW_PASSPHRASE"):
        prompts.new_passphrase(interactive=False)
