"""One way to unlock from the environment (FLSDESK_PASSPHRASE, then FLSDESK_RECOVERY_KEY): the
window (``session.key_from_environment``) and the command line (``cli.prompts.unlock``) both go
through ``flsdesk.store.unlock.key_from_environment`` and agree on every case."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flsdesk
from flsdesk import session
from flsdesk.cli import prompts
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import unlock
from flsdesk.store.errors import NoStore, StoreError, WrongKey

PASS = "correct horse battery staple"
ROOT = Path(flsdesk.__file__).resolve().parent.parent


@pytest.fixture
def made(tmp_path: Path) -> tuple[AppPaths, session.Created]:
    paths = resolve(tmp_path / "data")
    created = session.create(paths, PASS, "AB", "Test FLS", "")
    created.store.close()
    return paths, created


def _window(paths: AppPaths) -> bytes | None:
    return session.key_from_environment(paths)


def _command_line(paths: AppPaths) -> bytes | None:
    try:
        return prompts.unlock(paths, interactive=False, use_keyring=False)
    except WrongKey:
        raise
    except StoreError:
        return None  # "the store is locked": nothing in the environment


@pytest.mark.parametrize("front_end", [_window, _command_line])
def test_both_front_ends_read_the_environment_alike(
    made: tuple[AppPaths, session.Created], monkeypatch: pytest.MonkeyPatch, front_end
) -> None:
    paths, created = made
    assert front_end(paths) is None  # nothing set: the front end asks a person
    monkeypatch.setenv("FLSDESK_RECOVERY_KEY", created.recovery_key.lower())
    assert front_end(paths) == created.data_key
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "not the passphrase")
    with pytest.raises(WrongKey):  # the passphrase wins and is tried once
        front_end(paths)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    assert front_end(paths) == created.data_key


def test_both_front_ends_go_through_the_one_reading(
    made: tuple[AppPaths, session.Created], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, created = made
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    calls: list[AppPaths] = []
    real = unlock.key_from_environment

    def counted(p: AppPaths) -> bytes | None:
        calls.append(p)
        return real(p)

    monkeypatch.setattr(unlock, "key_from_environment", counted)
    assert _window(paths) == created.data_key
    assert _command_line(paths) == created.data_key
    assert calls == [paths, paths]


def test_the_window_with_a_secret_but_no_store_says_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    with pytest.raises(NoStore):
        session.key_from_environment(resolve(tmp_path / "none"))


def test_the_variable_names_are_read_in_one_module_only() -> None:
    names = {unlock.PASSPHRASE_ENV, unlock.RECOVERY_ENV}
    found = []
    for folder in ("flsdesk", "ui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(str(path.relative_to(ROOT)))
    assert sorted(found) == ["flsdesk/store/unlock.py", "flsdesk/store/unlock.py"]
