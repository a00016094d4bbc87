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

Only SQLCipher 4's default page layout is understood (the one flsdesk creates). The verdict is
only ever used to word a refusal SQLCipher itself has made (:func:`sqlcipher_refuses`), so a build
with other defaults can never turn a good store away.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
from pathlib import Path
from urllib.parse import quote

# SQLCipher 4 defaults, the settings flsdesk's engine uses (it never changes them).
PAGE_SIZE = 4096
_SALT_BYTES = 16  # the file header: the KDF salt, unencrypted at the start of page 1
_IV_BYTES = 16
_HMAC_BYTES = 64  # HMAC-SHA512
_RESERVE = 80  # IV + HMAC, rounded to the AES block
_HMAC_SALT_MASK = 0x3A
_FAST_KDF_ITERATIONS = 2
_PAGES_CHECKED = 8
_WAL_HEADER = 32
_WAL_FRAME_HEADER = 24
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


def _wal_pages(db_path: Path) -> list[tuple[int, bytes]]:
    """(page number, page) of the first frames in the -wal file: a store killed before its
    checkpoint (or open in another copy) may have most of its pages there."""
    try:
        with open(f"{db_path}-wal", "rb") as fh:
            raw = fh.read(_WAL_HEADER + (_WAL_FRAME_HEADER + PAGE_SIZE) * _PAGES_CHECKED)
    except OSError:
        return []
    frames = []
    offset = _WAL_HEADER
    while offset + _WAL_FRAME_HEADER + PAGE_SIZE <= len(raw):
        number = int.from_bytes(raw[offset : offset + 4], "big")
        start = offset + _WAL_FRAME_HEADER
        frames.append((number, raw[start : start + PAGE_SIZE]))
        offset = start + PAGE_SIZE
    return frames


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
    if _page_ok(hmac_key, head[:PAGE_SIZE], 1):
        return Fit.FITS
    others = [(n, head[(n - 1) * PAGE_SIZE : n * PAGE_SIZE]) for n in range(2, pages + 1)]
    others += _wal_pages(db_path)
    if any(number > 0 and _page_ok(hmac_key, page, number) for number, page in others):
        return Fit.FIRST_PAGE_DAMAGED
    if not others:
        return Fit.UNKNOWN  # one page that fails: wrong key or damage, nothing to compare with
    return Fit.NOT_THIS_DATABASE


def sqlcipher_refuses(db_path: Path, data_key: bytes) -> bool:
    """Whether SQLCipher itself says ``data_key`` does not open ``db_path`` (read-only look).

    False when it opens, and when the file cannot be looked at for another reason (missing,
    busy, a folder): those are the opening's to report.
    """
    import sqlcipher3

    uri = f"file:{quote(str(Path(db_path).resolve()))}?mode=ro"
    try:
        conn = sqlcipher3.connect(uri, uri=True, timeout=5.0)
    except sqlcipher3.Error:
        return False
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{bytes(data_key).hex()}'\"")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        return "not a database" in str(exc) or "encrypted" in str(exc)
    finally:
        with contextlib.suppress(sqlcipher3.Error):
            conn.close()
    return False
