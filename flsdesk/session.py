"""Getting into the store: first-run set-up and unlocking, for the window and the command line.

The window's wizard and unlock dialog call these functions and nothing else, so the rules of
unlocking (passphrase, recovery key, the remembered key, who is using the app) live in one place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flsdesk.paths import AppPaths, make_private_dir
from flsdesk.store import keys, presence
from flsdesk.store.backup import restore_leftovers
from flsdesk.store.errors import NoStore, StoreError
from flsdesk.store.store import Store, user_label

log = logging.getLogger("flsdesk.session")

PASSPHRASE_ENV = "FLSDESK_PASSPHRASE"
RECOVERY_ENV = "FLSDESK_RECOVERY_KEY"


def store_exists(paths: AppPaths) -> bool:
    """Whether the window should unlock (True) or offer the first-run wizard (False).

    An interrupted restore is settled first, and its leftovers alone also count as a store, so
    the wizard never creates a store over one kept aside. A damaged store counts too: the
    window then offers to restore it, never to start afresh.
    """
    with contextlib.suppress(StoreError, OSError):
        presence.settle(paths)  # a failure leaves the leftovers, which count below
    return presence.any_store_files(paths) or bool(restore_leftovers(paths))


def audit_user(initials: str) -> str:
    """Who the audit trail names: the initials typed at unlock and the OS account."""
    return user_label("".join(ch for ch in initials if ch.isalnum())[:6] or "?")


def passphrase_strength(passphrase: str) -> tuple[int, str]:
    """A rough 0–4 score and a hint; long passphrases of several words beat clever symbols.

    Score 0 is exactly what ``keys.check_new_passphrase`` refuses, with the same minimum.
    """
    minimum = keys.MIN_PASSPHRASE_LENGTH
    length = len(passphrase.strip())
    if length < minimum:
        return 0, (f"Too short: at least {minimum} characters — several unrelated words work well.")
    classes = sum(
        any(test(ch) for ch in passphrase)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    words = len([w for w in passphrase.replace("-", " ").split() if w])
    score = 1
    if length >= minimum + 4:
        score += 1
    if length >= 20 or words >= 4:
        score += 1
    if classes >= 3:
        score += 1
    hints = {
        1: "Weak: make it longer, for example four unrelated words.",
        2: "Fair: a few more characters or another word would make it strong.",
        3: "Good.",
        4: "Strong.",
    }
    return score, hints[score]


@dataclass
class Created:
    store: Store
    data_key: bytes
    recovery_key: str
    remembered: bool
    remember_problem: str | None


def create(
    paths: AppPaths,
    passphrase: str,
    initials: str,
    site: str,
    org_code: str,
    remember: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> Created:
    """Create the key file and the encrypted store; the recovery key is returned once."""
    blocker = presence.creation_blocker(paths)
    if blocker:
        raise blocker
    keys.check_new_passphrase(passphrase)
    make_private_dir(paths.data_dir)
    data_key, recovery_key = keys.create_key_file(paths.key_file, passphrase)
    store = Store.create(paths, data_key, audit_user(initials), site, org_code)
    remembered, problem = False, None
    if remember:
        remembered, problem = remember_key(paths, data_key)
    log.info("store created")
    return Created(store, data_key, recovery_key, remembered, problem)


def remember_key(paths: AppPaths, data_key: bytes) -> tuple[bool, str | None]:
    ok, reason = keys.keyring_status()
    if not ok:
        return False, reason
    try:
        keys.remember_key(paths.key_file, data_key)
    except StoreError as exc:
        return False, str(exc)
    return True, None


def unlock_key(paths: AppPaths, secret: str, *, recovery: bool = False) -> bytes:
    """The data key from a passphrase or a recovery key (WrongKey when it does not fit)."""
    if not paths.key_file.exists():
        raise NoStore(f"There is no flsdesk store in {paths.data_dir} yet.")
    if recovery:
        key = keys.unlock_with_recovery_key(paths.key_file, secret)
    else:
        key = keys.unlock_with_passphrase(paths.key_file, secret)
    from flsdesk.store.unlock import check_key_opens_database

    check_key_opens_database(paths, key)  # another store's key file is not a wrong passphrase
    return key


def remembered_key(paths: AppPaths) -> bytes | None:
    if not paths.key_file.exists():
        return None
    try:
        return keys.remembered_key(paths.key_file)
    except StoreError:
        return None


def key_from_environment(paths: AppPaths) -> bytes | None:
    """FLSDESK_PASSPHRASE or FLSDESK_RECOVERY_KEY, if set (scripts, tests, scheduled exports)."""
    if os.environ.get(PASSPHRASE_ENV):
        return unlock_key(paths, os.environ[PASSPHRASE_ENV])
    if os.environ.get(RECOVERY_ENV):
        return unlock_key(paths, os.environ[RECOVERY_ENV], recovery=True)
    return None


INITIALS_ENV = "FLSDESK_INITIALS"


def open_store_for_command(paths: AppPaths) -> Store:
    """Unlock as the CLI spec says (environment, keyring, terminal) and open the store; the
    audit trail names FLSDESK_INITIALS, or "CLI", with the OS account."""
    from flsdesk.store import unlock

    key = unlock.unlock(paths)
    store = Store.open(paths, key, audit_user(os.environ.get(INITIALS_ENV) or "CLI"))
    if store.rederived is not None and (notice := store.rederived.notice()):
        # Said once: the new fingerprint is stored, so the next open re-derives nothing.
        print(notice, file=sys.stderr)
    return store


def open_store(
    paths: AppPaths,
    data_key: bytes,
    initials: str,
    clock: Callable[[], datetime] | None = None,
    *,
    defer_rederive: bool = False,
) -> Store:
    return Store.open(
        paths, data_key, audit_user(initials), clock=clock, defer_rederive=defer_rederive
    )
