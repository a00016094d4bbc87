"""Does this data key belong to this database? Answered from the file's page checksums.

SQLCipher answers every failure to open with "file is not a database", which the user would read
as "wrong passphrase". But by the time we open the database the passphrase has already been
proved right against the key file, so a refusal there means something else: the key file belongs
to another store, or the start of the database is damaged. SQLCipher 4 seals every page with an
HMAC-SHA512 under a key derived from the data key and the file's salt, so checking a few pages
ourselves tells the two apart without opening anything (no SQLCipher, no lock, no writes):

- the first page checks out: the key fits (what else is wrong is for the opening to find);
- a later page checks out but the first does not: the key fits, the first page is damaged;
- no page checks out: the key is not this database's key.

Only SQLCipher 4's default page layout is understood (the one flsdesk creates); anything else
gives "unknown" and the opening decides, as before.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from pathlib import Path

# SQLCipher 4 defaults, the settings flsdesk's engine uses (it never changes them).
PAGE_SIZE = 4096
_SALT_BYTES = 16  # the file header: the KDF salt, unencrypted at the start of page 1
_IV_BYTES = 16
_HMAC_BYTES = 64  # HMAC-SHA512
_RESERVE = 80  # IV + HMAC, rounded to the AES block
_HMAC_SALT_MASK = 0x3A
_FAST_KDF_ITERATIONS = 2
_PAGES_CHECKED = 8
_PLAIN_SQLITE_HEADER = b"SQLite format 3\x00"


class Fit(enum.Enum):
    FITS = "fits"
    FIRST_PAGE_DAMAGED = "first page damaged"
    NOT_THIS_DATABASE = "not this database"
    UNKNOWN = "unknown"


def _page_ok(hmac_key: bytes, page: bytes, number: int) -> bool:
    start = _SALT_BYTES if number == 1 else 0
    sealed_end = PAGE_SIZE - _RESERVE + _IV_BYTES
    expected = page[sealed_end : sealed_end + _HMAC_BYTES]
    actual = hmac.new(
        hmac_key, page[start:sealed_end] + number.to_bytes(4, "little"), hashlib.sha512
    ).digest()
    return hmac.compare_digest(actual, expected)


def key_fits(db_path: Path, data_key: bytes) -> Fit:
    """How ``data_key`` relates to the encrypted database at ``db_path`` (see the module text)."""
    try:
        with open(db_path, "rb") as fh:
            head = fh.read(PAGE_SIZE * _PAGES_CHECKED)
    except OSError:
        return Fit.UNKNOWN  # missing, a folder, unreadable: the store's own checks say which
    pages = len(head) // PAGE_SIZE
    if pages == 0 or head.startswith(_PLAIN_SQLITE_HEADER):
        return Fit.UNKNOWN  # empty, truncated or not encrypted: not a question of the key
    salt = head[:_SALT_BYTES]
    hmac_key = hashlib.pbkdf2_hmac(
        "sha512", data_key, bytes(b ^ _HMAC_SALT_MASK for b in salt), _FAST_KDF_ITERATIONS, 32
    )
    ok = [
        _page_ok(hmac_key, head[(n - 1) * PAGE_SIZE : n * PAGE_SIZE], n)
        for n in range(1, pages + 1)
    ]
    if ok[0]:
        return Fit.FITS
    if any(ok[1:]):
        return Fit.FIRST_PAGE_DAMAGED
    if pages == 1:
        return Fit.UNKNOWN  # one page that fails: wrong key or damage, nothing to compare with
    return Fit.NOT_THIS_DATABASE
