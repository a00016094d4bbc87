"""Signing in to the team database from the window: one function the wizard's "Join the team's
database" page, the unlock dialog and the Settings' "Test the connection" share.

Opening is the store's (``Store.open_team``): it says in a sentence what is wrong (wrong password,
unknown host, refused certificate, newer schema). This module only gathers what the window knows
(the address typed, the user name, the CA file of Settings) and hands it over.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from flsdesk.paths import AppPaths
from flsdesk.store import address as team_address
from flsdesk.store import pg
from flsdesk.store.address import BadAddress, StoreAddress
from flsdesk.store.errors import KeyringUnavailable, StoreError
from flsdesk.store.store import Store

log = logging.getLogger("ui.team")


def address_with_user(text: str, user: str = "") -> StoreAddress:
    """The address typed, with the user name typed beside it (which wins over one inside).

    BadAddress says what is wrong with it; a password typed into the address is dropped: the
    password has its own field, and an address is only ever shown and kept without one.
    """
    address = StoreAddress.parse(text)
    user = user.strip()
    if user:
        address = dataclasses.replace(address, user=user)
    if not address.user:
        raise BadAddress(
            "Type your user name for the team database (your own, given by your IT team)."
        )
    return address.without_password()


def ca_file_or_none(text: str) -> str | None:
    text = text.strip()
    return str(Path(text).expanduser()) if text else None


def open_team(paths: AppPaths, address: StoreAddress, password: str, ca_file: str | None) -> Store:
    """Open the team store (the re-derivation a changed definition needs runs later, behind the
    window's progress dialog). Raises StoreError with the store's own message."""
    store = Store.open_team(
        address, password or None, paths=paths, ca_file=ca_file, defer_rederive=True
    )
    log.info("signed in to the team database (%s)", store.role)
    return store


def remember(address: StoreAddress, password: str, wanted: bool) -> str | None:
    """Keep the password in the OS keyring, or forget a kept one; the problem, or None."""
    if not wanted:
        team_address.forget_password(address)
        return None
    try:
        team_address.remember_password(address, password)
    except KeyringUnavailable as exc:
        return str(exc)
    return None


def check_password(
    paths: AppPaths, address: StoreAddress, password: str, ca_file: str | None
) -> None:
    """Is this the password of the person signed in? Asked by the server itself: a sign-in
    with it, closed at once. StoreError (SignInRefused, ServerUnreachable …) when it fails."""
    # The engine turns the driver's failures into the store's errors (flsdesk.store.pg).
    engine = pg.create_pg_engine(address, password or None, ca_file=ca_file)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


__all__ = [
    "BadAddress",
    "StoreError",
    "address_with_user",
    "ca_file_or_none",
    "check_password",
    "open_team",
    "remember",
]
