"""Unlocking without asking anyone (README.md, "Keys, passphrase, recovery key").

Order: ``FLSDESK_PASSPHRASE``, then ``FLSDESK_RECOVERY_KEY``, then the key remembered in the OS
keyring. Asking a person (the terminal's prompt, the window's dialog) belongs to the front ends:
``unlock`` takes the asking as a function, so this package does no terminal or window I/O.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flsdesk.paths import AppPaths
from flsdesk.store import dbkey, keys
from flsdesk.store.errors import StoreError

log = logging.getLogger("flsdesk.store")

PASSPHRASE_ENV = "FLSDESK_PASSPHRASE"
RECOVERY_ENV = "FLSDESK_RECOVERY_KEY"
NEW_PASSPHRASE_ENV = "FLSDESK_NEW_PASSPHRASE"

HOW_TO_UNLOCK = (
    f"set {PASSPHRASE_ENV} (or {RECOVERY_ENV}), or run the command in a terminal to be asked "
    "for the passphrase"
)

# Given the store's paths, asks a person and returns the data key (raising WrongKey when they
# cannot give a secret that fits).
AskPerson = Callable[[AppPaths], bytes]


def require_store(paths: AppPaths) -> None:
    # An interrupted restore is settled first; a key file without a usable database is damaged.
    from flsdesk.store import presence

    presence.require_store(paths)


def check_key_opens_database(paths: AppPaths, data_key: bytes) -> None:
    """Tell "this key file belongs to another database" and "the database's first page is
    damaged" apart from a wrong passphrase, before SQLCipher reports both as "not a database"."""
    fit = dbkey.key_fits(paths.database, data_key)
    if fit in (dbkey.Fit.FITS, dbkey.Fit.UNKNOWN):
        return
    if not dbkey.sqlcipher_refuses(paths.database, data_key):
        log.warning("page check and SQLCipher disagree (%s); SQLCipher trusted", fit.value)
        return
    from flsdesk.store import presence

    if fit is dbkey.Fit.FIRST_PAGE_DAMAGED:
        raise presence.damaged(
            paths,
            f"the first page of its database {paths.database} fails its check (the key is right)",
        )
    if fit is dbkey.Fit.NOT_THIS_DATABASE:
        # No page verifies: another store's key file, or a database overwritten whole. Both are
        # damage, and both are mended the same way.
        raise presence.damaged(
            paths,
            f"its database file cannot be read with the store's own key: the key file "
            f"{paths.key_file} does not belong to the database {paths.database} (the secret is "
            "right for the key file), or the database was overwritten. Put back the key file that "
            "came with this database",
        )


def secret_in_environment() -> bool:
    return bool(os.environ.get(PASSPHRASE_ENV) or os.environ.get(RECOVERY_ENV))


def key_from_environment(paths: AppPaths) -> bytes | None:
    """The data key from FLSDESK_PASSPHRASE, else FLSDESK_RECOVERY_KEY; None when neither is set.

    The one reading of those variables, for the window and the command line alike. A secret
    given there is tried once: a wrong one raises WrongKey rather than falling through to asking.
    """
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase:
        log.info("unlocking with the passphrase from the environment")
        return keys.unlock_with_passphrase(paths.key_file, passphrase)
    recovery = os.environ.get(RECOVERY_ENV)
    if recovery:
        log.info("unlocking with the recovery key from the environment")
        return keys.unlock_with_recovery_key(paths.key_file, recovery)
    return None


def unlock(
    paths: AppPaths,
    *,
    ask: AskPerson | None = None,
    use_keyring: bool = True,
) -> bytes:
    """The 32-byte data key of the store in ``paths``: from the environment, the OS keyring, or
    ``ask``; with none of these, a StoreError that says how to unlock."""
    require_store(paths)
    key = key_from_environment(paths)
    if key is None and use_keyring:
        key = keys.remembered_key(paths.key_file)
        if key is not None:
            log.info("unlocked with the key remembered in the OS keyring")
    if key is None:
        if ask is None:
            raise StoreError(f"The store is locked: {HOW_TO_UNLOCK}.")
        key = ask(paths)
    check_key_opens_database(paths, key)
    return key
