"""Unlocking without a window (see shared/spec/cli.md, "Unlocking, without a window").

Order: ``FLSDESK_PASSPHRASE``, then ``FLSDESK_RECOVERY_KEY``, then the key remembered in the OS
keyring, then a prompt on the terminal; with none of these, a StoreError that says how to unlock.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
from collections.abc import Callable

from flsdesk.paths import AppPaths
from flsdesk.store import dbkey, keys
from flsdesk.store.errors import StoreError, WrongKey

log = logging.getLogger("flsdesk.store")

PASSPHRASE_ENV = "FLSDESK_PASSPHRASE"
RECOVERY_ENV = "FLSDESK_RECOVERY_KEY"
NEW_PASSPHRASE_ENV = "FLSDESK_NEW_PASSPHRASE"
PROMPT_ATTEMPTS = 3

HOW_TO_UNLOCK = (
    f"set {PASSPHRASE_ENV} (or {RECOVERY_ENV}), or run the command in a terminal to be asked "
    "for the passphrase"
)

Prompt = Callable[[str], str]


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


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


def unlock(
    paths: AppPaths,
    *,
    prompt: Prompt | None = None,
    interactive: bool | None = None,
    use_keyring: bool = True,
) -> bytes:
    """The 32-byte data key of the store in ``paths``.

    ``prompt`` and ``interactive`` exist for tests; by default the terminal is used with
    ``getpass`` when stdin is a terminal. A secret given in the environment is tried once: a
    wrong one raises WrongKey rather than falling through to a prompt.
    """
    require_store(paths)
    key = _unlock_key_file(paths, prompt=prompt, interactive=interactive, use_keyring=use_keyring)
    check_key_opens_database(paths, key)
    return key


def _unlock_key_file(
    paths: AppPaths, *, prompt: Prompt | None, interactive: bool | None, use_keyring: bool
) -> bytes:
    key_file = paths.key_file
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase:
        log.info("unlocking with the passphrase from the environment")
        return keys.unlock_with_passphrase(key_file, passphrase)
    recovery = os.environ.get(RECOVERY_ENV)
    if recovery:
        log.info("unlocking with the recovery key from the environment")
        return keys.unlock_with_recovery_key(key_file, recovery)
    if use_keyring:
        remembered = keys.remembered_key(key_file)
        if remembered is not None:
            log.info("unlocked with the key remembered in the OS keyring")
            return remembered
    if interactive is None:
        interactive = stdin_is_terminal()
    if not interactive:
        raise StoreError(f"The store is locked: {HOW_TO_UNLOCK}.")
    ask = prompt or getpass.getpass
    for attempt in range(1, PROMPT_ATTEMPTS + 1):
        secret = ask("Passphrase (or recovery key) for the flsdesk store: ")
        if not secret:
            continue
        try:
            # The terminal accepts either: the recovery key is recognised by its checksum.
            return keys.unlock_document(keys.read_key_document(key_file), secret)
        except WrongKey as exc:
            if attempt == PROMPT_ATTEMPTS:
                raise
            print(f"{exc} Try again.", file=sys.stderr)
    raise WrongKey("No passphrase was given.")


def new_passphrase(
    *,
    env: tuple[str, ...] = (NEW_PASSPHRASE_ENV,),
    prompt: Prompt | None = None,
    interactive: bool | None = None,
) -> str:
    """A new passphrase: from the first set variable in ``env``, else asked twice on the terminal.

    Raises ValueError (a sentence for the user) when it is too short, the two entries differ, or
    there is no way to ask.
    """
    for name in env:
        value = os.environ.get(name)
        if value:
            keys.check_new_passphrase(value)
            return value
    if interactive is None:
        interactive = stdin_is_terminal()
    if not interactive:
        raise ValueError(
            f"No new passphrase: set {' or '.join(env)}, or run the command in a terminal."
        )
    ask = prompt or getpass.getpass
    first = ask(f"New passphrase (at least {keys.MIN_PASSPHRASE_LENGTH} characters): ")
    keys.check_new_passphrase(first)
    if ask("The same passphrase again: ") != first:
        raise ValueError("The two passphrases are not the same; nothing was changed.")
    return first


def initials() -> str:
    """The OS user name, recorded with the initials given at unlock in the audit trail."""
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (some containers)
        return "unknown"
