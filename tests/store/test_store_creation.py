"""One way to create a store (``session.create``), used by ``flsdesk init`` and the wizard: a
creation that fails half-way leaves nothing behind and a retry works; the audit user is
``"AB (jsmith)"`` (initials and OS account). The wizard's side is in
tests/ui/test_wizard_creation.py.
"""

from __future__ import annotations

import getpass
import re

import pytest

from flsdesk import session
from flsdesk.cli import EXIT_OK, EXIT_STORE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import keys, presence
from flsdesk.store.store import Store
from tests.helpers.creation_spy import CreationSpy, store_files

PASS = "correct horse battery"
RECOVERY = re.compile(r"\b[A-Z2-7]{5}(?:-[A-Z2-7]{5}){7}\b")


@pytest.fixture
def paths() -> AppPaths:
    return resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> CreationSpy:
    monkeypatch.setattr(getpass, "getuser", lambda: "jsmith")
    return CreationSpy(monkeypatch)


def test_init_that_fails_half_way_leaves_nothing_and_a_retry_works(
    paths: AppPaths,
    spy: CreationSpy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    spy.fail = True
    assert main(["init", "--site", "Test FLS"]) == EXIT_STORE
    captured = capsys.readouterr()
    assert "Input/output error" in captured.err
    assert not RECOVERY.search(captured.out)  # no recovery key for a store that is not there
    # Both files were really made before the failure, and both are gone.
    assert {"flsdesk.db", "flsdesk.key"} <= set(spy.made_files)
    assert store_files(paths) == []
    assert not session.store_exists(paths)  # the window would offer the wizard again

    spy.fail = False
    assert main(["init", "--site", "Test FLS", "--org-code", "RXX"]) == EXIT_OK
    recovery = RECOVERY.search(capsys.readouterr().out)
    assert recovery is not None
    key = keys.unlock_with_recovery_key(paths.key_file, recovery.group(0))
    with Store.open(paths, key, "TS (tester)") as store:
        assert store.get_setting("service_name") == "Test FLS"


def test_session_create_that_fails_half_way_leaves_nothing_and_a_retry_works(
    paths: AppPaths, spy: CreationSpy
) -> None:
    spy.fail = True
    with pytest.raises(OSError, match="Input/output error"):
        session.create(paths, PASS, "AB", "Test FLS", "RXX")
    assert {"flsdesk.db", "flsdesk.key"} <= set(spy.made_files)
    assert store_files(paths) == []
    spy.fail = False
    created = session.create(paths, PASS, "AB", "Test FLS", "RXX")
    created.store.close()
    assert keys.unlock_with_recovery_key(paths.key_file, created.recovery_key) == created.data_key


def test_a_store_made_by_another_copy_meanwhile_is_not_removed(
    paths: AppPaths, spy: CreationSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = session.create(paths, PASS, "CD", "Other FLS", "")
    other.store.close()
    before = {name: (paths.data_dir / name).read_bytes() for name in store_files(paths)}
    assert set(before) >= {"flsdesk.db", "flsdesk.key"}
    # The other copy's init finished between our check and our write: the check saw nothing.
    monkeypatch.setattr(presence, "creation_blocker", lambda _paths: None)
    with pytest.raises(FileExistsError):
        session.create(paths, PASS, "AB", "Test FLS", "")
    assert {name: (paths.data_dir / name).read_bytes() for name in store_files(paths)} == before


def test_a_database_made_by_another_copy_after_our_key_file_is_not_removed(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Store.create
    theirs = b"another copy's database"

    def create(cls, paths, *args, **kwargs):  # type: ignore[no-untyped-def]
        paths.database.write_bytes(theirs)  # written between our key file and our database
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(Store, "create", classmethod(create))
    with pytest.raises(FileExistsError):
        session.create(paths, PASS, "AB", "Test FLS", "")
    assert paths.database.read_bytes() == theirs
    assert not paths.key_file.exists()  # ours, and removed


@pytest.mark.parametrize(("initials", "expected"), [("ab", "AB (jsmith)"), (None, "CLI (jsmith)")])
def test_init_records_the_audit_user_as_initials_and_os_account(
    spy: CreationSpy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    initials: str | None,
    expected: str,
) -> None:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    if initials:
        monkeypatch.setenv("FLSDESK_INITIALS", initials)
    assert main(["init", "--site", "Test FLS"]) == EXIT_OK
    assert spy.users == [expected]


def test_init_and_the_window_name_the_same_audit_user(spy: CreationSpy) -> None:
    # The contract (docs/internal-contracts.md): user_label(initials), "AB (jsmith)".
    assert session.audit_user("ab") == "AB (jsmith)"
    assert session.audit_user("a.b!") == "AB (jsmith)"
