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
