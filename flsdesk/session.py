"""Getting into the store: first-run set-up and unlocking, for the window and the command line.

The window's wizard and unlock dialog, and the ``init`` command, call these functions and nothing
else, so the rules of creating and unlocking a store (passphrase, recovery key, the remembered
key, who is using the app) live in one place. Asking a person is the front ends' job.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flsdesk.paths import AppPaths, make_private_dir
from flsdesk.store import address, keys, presence, unlock
from flsdesk.store.backup import restore_leftovers
from flsdesk.store.errors import NoStore, StoreError, StoreInUse
from flsdesk.store.store import Store, user_label

log = logging.getLogger("flsdesk.session")

INITIALS_ENV = "FLSDESK_INITIALS"


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


def command_line_initials() -> str:
    """Whose initials a command records: FLSDESK_INITIALS, or "CLI" for a script."""
    return os.environ.get(INITIALS_ENV) or "CLI"


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
    org_code: str | None,
    remember: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> Created:
    """Create the key file and the encrypted store; the recovery key is returned once.

    The one way a store is made (the window's wizard and ``flsdesk init``). It refuses where a
    store, a damaged one or a restore's leftovers already are; when making it fails half-way,
    what it made is removed, so nothing blocks the next try.
    """
    blocker = presence.creation_blocker(paths)
    if blocker:
        raise blocker
    keys.check_new_passphrase(passphrase)
    make_private_dir(paths.data_dir)
    # FileExistsError here: another copy made a store since the check above; none of it is ours.
    data_key, recovery_key = keys.create_key_file(paths.key_file, passphrase)
    try:
        store = Store.create(paths, data_key, audit_user(initials), site, org_code, clock=clock)
    except (StoreInUse, FileExistsError):
        # Another copy holds the lock or made its database meanwhile: the key file is ours
        # (created exclusively above), the database is not.
        paths.key_file.unlink(missing_ok=True)
        raise
    except BaseException:
        # Both files are ours and hold nothing yet; a half-made store would block the next try.
        _remove_half_made(paths)
        raise
    remembered, problem = False, None
    if remember:
        remembered, problem = remember_key(paths, data_key)
    log.info("store created")
    return Created(store, data_key, recovery_key, remembered, problem)


def _remove_half_made(paths: AppPaths) -> None:
    paths.key_file.unlink(missing_ok=True)
    for extra in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(f"{paths.database}{extra}").unlink()


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
    unlock.check_key_opens_database(
        paths, key
    )  # another store's key file is not a wrong passphrase
    return key


def remembered_key(paths: AppPaths) -> bytes | None:
    if not paths.key_file.exists():
        return None
    try:
        return keys.remembered_key(paths.key_file)
    except StoreError:
        return None


def key_from_environment(paths: AppPaths) -> bytes | None:
    """FLSDESK_PASSPHRASE or FLSDESK_RECOVERY_KEY, if set (scripts, tests, scheduled exports):
    the same reading as the command line's, with the same checks as the unlock dialog's."""
    if not unlock.secret_in_environment():
        return None
    if not paths.key_file.exists():
        raise NoStore(f"There is no flsdesk store in {paths.data_dir} yet.")
    key = unlock.key_from_environment(paths)
    if key is not None:
        unlock.check_key_opens_database(paths, key)
    return key


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


# --------------------------------------------------------------------------- a team store


def team_address(paths: AppPaths) -> address.StoreAddress | None:
    """The team database this run uses (``--store``, FLSDESK_STORE, this computer's setting), or
    None for the local store. BadAddress (a ValueError) names where a bad address came from."""
    chosen = address.chosen_address(paths, paths.store)
    return None if chosen is None else chosen.address


def open_team(
    paths: AppPaths,
    where: address.StoreAddress,
    password: str | None,
    clock: Callable[[], datetime] | None = None,
    *,
    defer_rederive: bool = False,
) -> Store:
    """Sign in to the team database and open it as a store: the audit trail names the database
    user; the CA file is the address's own or this computer's setting. SignInRefused,
    ServerUnreachable, CertificateRefused, NewerSchema… say why not (never with the password)."""
    return Store.open_team(
        where,
        password,
        paths=paths,
        clock=clock,
        defer_rederive=defer_rederive,
        ca_file=where.ca_file(paths),
    )


def remember_team_password(where: address.StoreAddress, password: str) -> tuple[bool, str | None]:
    """Keep the password in the OS keyring ("remember"); (False, why) when it cannot be."""
    try:
        address.remember_password(where, password)
    except StoreError as exc:
        return False, str(exc)
    return True, None


@dataclass
class Joined:
    store: Store  # open, signed in: the caller uses it or closes it
    remembered: bool
    remember_problem: str | None


def join_team(
    paths: AppPaths,
    where: address.StoreAddress,
    password: str | None,
    *,
    ca_file: str | None = None,
    remember: bool = False,
) -> Joined:
    """Make this computer use the team database (the wizard's "Join the team's database",
    Settings, ``team join``): sign in first, and only then keep the address (without its
    password) and the CA file as this computer's settings, and the password in the keyring
    when ``remember``. A refused sign-in changes nothing."""
    from flsdesk import settings as app_settings

    if ca_file:
        where = where.with_option("sslrootcert", ca_file)
    store = open_team(paths, where, password)
    try:
        address.save_address(paths, where.without_option("sslrootcert").display)
        if where.option("sslrootcert"):
            app_settings.write_pc_setting(
                paths.config_dir, "team_ca_file", where.option("sslrootcert")
            )
        remembered, problem = False, None
        if remember and password:
            remembered, problem = remember_team_password(where, password)
        elif not remember:
            address.forget_password(where)
        app_settings.write_pc_setting(paths.config_dir, "remember_db_password", remembered)
    except BaseException:
        store.close()
        raise
    log.info("this computer joined a team database")
    return Joined(store, remembered, problem)
