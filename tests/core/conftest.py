"""Core-test fixtures live in tests/conftest.py (cheap key derivation, no real keyring, the
in-memory keyring); this module re-exports the keyring class for the tests that subclass it."""

from tests.conftest import MemoryKeyring

__all__ = ["MemoryKeyring"]
