"""Errors raised when the encrypted store cannot be opened or used.

Every message is a plain sentence meant for the user. None may ever hold patient data (NHS number,
name, date of birth, answers): they end up on screen, on stderr and in the log.
"""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be opened or used; the CLI reports the message and exits 3."""


class NoStore(StoreError):
    """There is no store (database or key file) in the data folder yet."""


class WrongKey(StoreError):
    """The passphrase or recovery key does not open this store."""


class StoreInUse(StoreError):
    """Another copy of flsdesk has the store open."""


class NewerSchema(StoreError):
    """The database was written by a newer version of flsdesk."""


class StoreDamaged(StoreError):
    """The database or key file is unreadable or fails its integrity check."""


class KeyringUnavailable(StoreError):
    """No secure OS keyring is available, so the data key cannot be remembered.

    Reported to the user (the app then asks for the passphrase each time); not fatal by itself.
    """


# -- the team database (PostgreSQL) ------------------------------------------------------------
# Messages name the server by its address without the password (StoreAddress.display).


class SignInRefused(StoreError):
    """The server refused the sign-in: wrong password, no such account, or not allowed in."""


class ServerUnreachable(StoreError):
    """The server cannot be reached, or the connection was lost (the transaction under way was
    rolled back by the server: nothing of it was saved)."""


class CertificateRefused(StoreError):
    """The encrypted connection could not be set up: no CA file, an unreadable one, or a server
    certificate that it does not vouch for (or that names another host)."""


class NotAllowed(StoreError):
    """The signed-in person's role does not allow this (checked by the Store before the server
    would refuse it, and the server's own refusal is reported the same way)."""


class StoreBusy(StoreError):
    """Another PC held the store's write lock for too long; nothing was changed, try again."""
