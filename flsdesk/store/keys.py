"""The data key and the key file, the way disk encryption does it.

A random 256-bit *data key* encrypts the database and never changes. It is stored only wrapped
(AES-256-GCM) in a JSON key file beside the database, in two *slots*:

- ``passphrase``: wrapped by a key derived from the user's passphrase with Argon2id. The KDF
  parameters are stored in the slot, so they can be raised later without breaking old files.
- ``recovery``: wrapped by a key derived from the *recovery key*, a random code shown once at set-up
  (8 groups of 5 base32 characters; the last group is a checksum so a typo is reported as a typo).
  It carries 175 random bits, far beyond brute force, so a fast HKDF is enough for this slot.

Changing the passphrase re-wraps the data key; the database is not touched. The key file also holds
a *key check* (an HMAC of a fixed label under the data key), so a key coming from the OS keyring or
from the recovery slot can be matched to this store without opening the database.

Optionally the data key is remembered in the OS keyring ("remember on this computer"), but only in
a backend we trust to keep secrets: never in a plain-text file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flsdesk import files
from flsdesk.files import fsync_folder
from flsdesk.store.errors import KeyringUnavailable, NoStore, StoreDamaged, StoreError, WrongKey

log = logging.getLogger("flsdesk.store")

KEY_BYTES = 32
KEY_FILE_FORMAT = "flsdesk-key"
KEY_FILE_VERSION = 1
KEYRING_SERVICE = "flsdesk"
# The one passphrase rule: the wizard's hint, its refusal and the command line all read it.
MIN_PASSPHRASE_LENGTH = 10

_RECOVERY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
_RECOVERY_GROUPS = 8
_RECOVERY_GROUP_LEN = 5
_RECOVERY_BODY_LEN = (_RECOVERY_GROUPS - 1) * _RECOVERY_GROUP_LEN  # 35 chars = 175 random bits
# Characters base32 leaves out that people type for ones that look alike.
_RECOVERY_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


# Far above anything flsdesk writes (see PRODUCTION_KDF), far below what would hang or exhaust a PC.
MAX_ITERATIONS = 64
MAX_LANES = 16
MAX_MEMORY_COST = 4 * 1024 * 1024  # KiB = 4 GiB
# A key file is about 1 KB; anything far bigger is not one, and is refused before it is parsed.
MAX_KEY_FILE_BYTES = 64 * 1024
_KDF_DAMAGED = (
    "The key file is damaged: its passphrase settings (Argon2 memory, passes or lanes) are "
    "outside anything flsdesk writes, so it was not used. Restore the key file from a backup, "
    "or restore the latest backup."
)


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost. ``memory_cost`` is in KiB."""

    iterations: int
    lanes: int
    memory_cost: int

    def check(self) -> None:
        # The parameters come from a file someone could edit: bound them so a doctored key file
        # cannot make us allocate gigabytes or spin for minutes. Checked before any derivation.
        values = (self.iterations, self.lanes, self.memory_cost)
        if any(type(v) is not int for v in values):
            raise StoreDamaged(_KDF_DAMAGED)
        if not (1 <= self.iterations <= MAX_ITERATIONS and 1 <= self.lanes <= MAX_LANES):
            raise StoreDamaged(_KDF_DAMAGED)
        if not (8 * self.lanes <= self.memory_cost <= MAX_MEMORY_COST):
            raise StoreDamaged(_KDF_DAMAGED)


# Tuned to about 0.35 s on the 2-core reference machine (RFC 9106 style: memory first, then
# passes). A test asserts these values, so weakening them is a visible change.
PRODUCTION_KDF = KdfParams(iterations=4, lanes=4, memory_cost=128 * 1024)
# For tests only: derivation in microseconds. Installed through ``tests/conftest.py``.
TEST_KDF = KdfParams(iterations=1, lanes=1, memory_cost=8)

# The parameters used for *new* wrappings (create, change passphrase). Unlocking always uses the
# parameters stored in the key file. Tests swap this for TEST_KDF; nothing else should.
kdf_params: KdfParams = PRODUCTION_KDF


# --------------------------------------------------------------------------- helpers


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise StoreDamaged("The key file is damaged.")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise StoreDamaged("The key file is damaged.") from exc


def _passphrase_bytes(passphrase: str) -> bytes:
    # NFC so the same passphrase typed on another keyboard/OS derives the same key.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive_from_passphrase(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    params.check()
    return Argon2id(
        salt=salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost,
    ).derive(_passphrase_bytes(passphrase))


def _derive_from_recovery(code: str, salt: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=b"flsdesk recovery key v1"
    ).derive(code.encode("ascii"))


def _aad(slot: str) -> bytes:
    # Binds each wrapped key to its slot, so slots cannot be swapped around in the file.
    return f"{KEY_FILE_FORMAT}/{KEY_FILE_VERSION}/{slot}".encode("ascii")


def _wrap(wrapping_key: bytes, data_key: bytes, slot: str) -> dict[str, str]:
    nonce = os.urandom(12)
    return {
        "nonce": _b64(nonce),
        "wrapped": _b64(AESGCM(wrapping_key).encrypt(nonce, data_key, _aad(slot))),
    }


def _unwrap(wrapping_key: bytes, slot_data: dict[str, Any], slot: str) -> bytes:
    try:
        data_key = AESGCM(wrapping_key).decrypt(
            _unb64(slot_data.get("nonce")), _unb64(slot_data.get("wrapped")), _aad(slot)
        )
    except InvalidTag as exc:
        raise WrongKey(
            "The passphrase is not right for this store."
            if slot == "passphrase"
            else "The recovery key is not right for this store."
        ) from exc
    if len(data_key) != KEY_BYTES:
        raise StoreDamaged("The key file is damaged.")
    return data_key


def key_check(data_key: bytes) -> str:
    """A fingerprint that identifies the data key without revealing it."""
    return _b64(hmac.new(data_key, b"flsdesk key check v1", hashlib.sha256).digest()[:16])


def validate_key(data_key: object) -> bytes:
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != KEY_BYTES:
        raise ValueError("a data key is exactly 32 bytes")
    return bytes(data_key)


# --------------------------------------------------------------------------- recovery key


def new_recovery_key() -> str:
    body = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_BODY_LEN))
    code = body + _recovery_checksum(body)
    n = _RECOVERY_GROUP_LEN
    return "-".join(code[i : i + n] for i in range(0, len(code), n))


def _recovery_checksum(body: str) -> str:
    digest = int.from_bytes(hashlib.sha256(body.encode("ascii")).digest()[:4], "big")
    bits = digest >> (32 - 5 * _RECOVERY_GROUP_LEN)
    return "".join(
        _RECOVERY_ALPHABET[(bits >> (5 * (_RECOVERY_GROUP_LEN - 1 - i))) & 31]
        for i in range(_RECOVERY_GROUP_LEN)
    )


def normalize_recovery_key(text: str) -> str | None:
    """The canonical 40-character code, or ``None`` when ``text`` is not a well-formed key.

    Case, spaces, dashes and the look-alikes 0/1/8 are forgiven; a wrong checksum is not.
    """
    cleaned = "".join(ch for ch in text.upper() if not ch.isspace() and ch not in "-_.")
    cleaned = cleaned.translate(_RECOVERY_LOOKALIKES)
    if len(cleaned) != _RECOVERY_GROUPS * _RECOVERY_GROUP_LEN:
        return None
    if any(ch not in _RECOVERY_ALPHABET for ch in cleaned):
        return None
    body, check = cleaned[:_RECOVERY_BODY_LEN], cleaned[_RECOVERY_BODY_LEN:]
    if not hmac.compare_digest(check, _recovery_checksum(body)):
        return None
    return cleaned


# --------------------------------------------------------------------------- key file


def check_new_passphrase(passphrase: str) -> None:
    """Raise ValueError with a sentence for the user when a new passphrase is too weak."""
    if len(passphrase.strip()) < MIN_PASSPHRASE_LENGTH:
        raise ValueError(f"The passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters.")


def _passphrase_slot(passphrase: str, data_key: bytes) -> dict[str, Any]:
    params = kdf_params
    salt = os.urandom(16)
    slot: dict[str, Any] = {"kdf": {"name": "argon2id", "salt": _b64(salt), **asdict(params)}}
    slot.update(_wrap(_derive_from_passphrase(passphrase, salt, params), data_key, "passphrase"))
    return slot


def _recovery_slot(code: str, data_key: bytes) -> dict[str, Any]:
    salt = os.urandom(16)
    slot: dict[str, Any] = {"kdf": {"name": "hkdf-sha256", "salt": _b64(salt)}}
    slot.update(_wrap(_derive_from_recovery(code, salt), data_key, "recovery"))
    return slot


def build_key_document(data_key: bytes, passphrase: str) -> tuple[dict[str, Any], str]:
    """A new key file document for ``data_key`` and a new recovery key, without writing it."""
    data_key = validate_key(data_key)
    recovery = new_recovery_key()
    canonical = normalize_recovery_key(recovery)
    assert canonical is not None
    doc = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "store_id": str(uuid.uuid4()),
        "key_check": key_check(data_key),
        "slots": {
            "passphrase": _passphrase_slot(passphrase, data_key),
            "recovery": _recovery_slot(canonical, data_key),
        },
    }
    return doc, recovery


def write_key_document(key_file: Path, doc: dict[str, Any], *, exclusive: bool = False) -> None:
    """Write atomically (temp file + fsync + ``os.replace``), owner-only.

    With ``exclusive`` an existing key file is never replaced (creating a store must not clobber
    one).
    """
    data = json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = files.mkstemp(key_file.parent, "key")
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp already made it 0600
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            # link() fails if the target exists, unlike replace(): no window for a clobber.
            try:
                os.link(tmp, key_file)
            except FileExistsError:
                raise
            except OSError:  # file systems without hard links (some network shares)
                if key_file.exists():
                    raise FileExistsError(str(key_file)) from None
                os.replace(tmp, key_file)
        else:
            os.replace(tmp, key_file)
        fsync_folder(key_file.parent)
    finally:
        tmp.unlink(missing_ok=True)


def read_key_document(key_file: Path) -> dict[str, Any]:
    try:
        with open(key_file, "rb") as fh:
            raw = fh.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise NoStore(f"There is no flsdesk key file in {key_file.parent}.") from exc
    except IsADirectoryError as exc:
        raise StoreDamaged(
            f"The key file {key_file} is a folder, not a file: the store cannot be opened. "
            "Move that folder away and put back the key file, or restore the latest backup."
        ) from exc
    except OSError as exc:
        raise StoreError(f"The key file {key_file} cannot be read: {exc.strerror}.") from exc
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise StoreDamaged(f"The key file {key_file} is damaged: it is far too big to be one.")
    return parse_key_document(raw)


def parse_key_document(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and integers too long to convert; RecursionError
        # a doctored file nested thousands deep.
        raise StoreDamaged("The key file is damaged (it is not a readable key file).") from exc
    if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
        raise StoreDamaged("The key file is not an flsdesk key file.")
    if doc.get("version") != KEY_FILE_VERSION:
        raise StoreDamaged(
            "The key file was written by a different version of flsdesk and cannot be read."
        )
    slots = doc.get("slots")
    if not isinstance(slots, dict) or not isinstance(doc.get("key_check"), str):
        raise StoreDamaged("The key file is damaged.")
    return doc


def _slot(doc: dict[str, Any], name: str) -> dict[str, Any]:
    slot = doc["slots"].get(name)
    if not isinstance(slot, dict) or not isinstance(slot.get("kdf"), dict):
        raise StoreDamaged("The key file is damaged.")
    return slot


def _checked(doc: dict[str, Any], data_key: bytes) -> bytes:
    if not hmac.compare_digest(key_check(data_key), doc["key_check"]):
        # The slot decrypted (so the secret was right) but the key is not this file's key.
        raise StoreDamaged("The key file is damaged.")
    return data_key


def unlock_document_with_passphrase(doc: dict[str, Any], passphrase: str) -> bytes:
    slot = _slot(doc, "passphrase")
    kdf = slot["kdf"]
    if kdf.get("name") != "argon2id":
        raise StoreDamaged("The key file uses a key derivation this version does not know.")
    try:
        params = KdfParams(
            iterations=kdf["iterations"], lanes=kdf["lanes"], memory_cost=kdf["memory_cost"]
        )
    except KeyError as exc:
        raise StoreDamaged("The key file is damaged.") from exc
    # Refused here, before the salt is even decoded: a doctored cost must never reach Argon2.
    params.check()
    wrapping = _derive_from_passphrase(passphrase, _unb64(kdf.get("salt")), params)
    return _checked(doc, _unwrap(wrapping, slot, "passphrase"))


def unlock_document_with_recovery_key(doc: dict[str, Any], recovery_key: str) -> bytes:
    canonical = normalize_recovery_key(recovery_key)
    if canonical is None:
        raise WrongKey(
            "That is not a valid recovery key: check for a typo (it has 8 groups of 5 letters "
            "and digits)."
        )
    slot = _slot(doc, "recovery")
    if slot["kdf"].get("name") != "hkdf-sha256":
        raise StoreDamaged("The key file uses a key derivation this version does not know.")
    wrapping = _derive_from_recovery(canonical, _unb64(slot["kdf"].get("salt")))
    return _checked(doc, _unwrap(wrapping, slot, "recovery"))


def unlock_document(doc: dict[str, Any], secret: str) -> bytes:
    """Unlock with a secret that may be either the passphrase or the recovery key."""
    if normalize_recovery_key(secret) is not None:
        try:
            return unlock_document_with_recovery_key(doc, secret)
        except WrongKey:
            pass  # a passphrase that merely looks like a recovery key: try it as one
    return unlock_document_with_passphrase(doc, secret)


# --------------------------------------------------------------------------- public API


def create_key_file(key_file: Path, passphrase: str) -> tuple[bytes, str]:
    """Create a new data key and its key file; return ``(data_key, recovery_key)``.

    The recovery key is returned once, for the user to print or file; it is never stored.
    Raises FileExistsError if a key file is already there.
    """
    check_new_passphrase(passphrase)
    data_key = secrets.token_bytes(KEY_BYTES)
    doc, recovery = build_key_document(data_key, passphrase)
    write_key_document(key_file, doc, exclusive=True)
    log.info("key file created")
    return data_key, recovery


def unlock_with_passphrase(key_file: Path, passphrase: str) -> bytes:
    """The data key, or WrongKey. Never changes the key file."""
    return unlock_document_with_passphrase(read_key_document(key_file), passphrase)


def unlock_with_recovery_key(key_file: Path, recovery_key: str) -> bytes:
    """The data key, or WrongKey. Case, spaces and dashes in ``recovery_key`` do not matter."""
    return unlock_document_with_recovery_key(read_key_document(key_file), recovery_key)


def matches(key_file: Path, data_key: bytes) -> bool:
    """Whether ``data_key`` is the data key of this key file."""
    doc = read_key_document(key_file)
    return hmac.compare_digest(key_check(validate_key(data_key)), doc["key_check"])


def store_id(key_file: Path) -> str:
    doc = read_key_document(key_file)
    value = doc.get("store_id")
    if not isinstance(value, str) or not value:
        raise StoreDamaged("The key file is damaged.")
    return value


def change_passphrase(key_file: Path, data_key: bytes, new_passphrase: str) -> None:
    """Re-wrap the data key under a new passphrase; the database and recovery key are untouched.

    ``data_key`` comes from any unlock (old passphrase, recovery key, keyring), so a forgotten
    passphrase is reset with the recovery key.
    """
    check_new_passphrase(new_passphrase)
    doc = read_key_document(key_file)
    data_key = validate_key(data_key)
    if not hmac.compare_digest(key_check(data_key), doc["key_check"]):
        raise WrongKey("That key is not the key of this store.")
    doc["slots"]["passphrase"] = _passphrase_slot(new_passphrase, data_key)
    write_key_document(key_file, doc)
    log.info("passphrase changed (data key re-wrapped)")


def replace_recovery_key(key_file: Path, data_key: bytes) -> str:
    """Issue a new recovery key (the old one stops working) and return it, once."""
    doc = read_key_document(key_file)
    data_key = validate_key(data_key)
    if not hmac.compare_digest(key_check(data_key), doc["key_check"]):
        raise WrongKey("That key is not the key of this store.")
    recovery = new_recovery_key()
    canonical = normalize_recovery_key(recovery)
    assert canonical is not None
    doc["slots"]["recovery"] = _recovery_slot(canonical, data_key)
    write_key_document(key_file, doc)
    log.info("recovery key replaced")
    return recovery


# --------------------------------------------------------------------------- OS keyring


def _backend_problem(backend: object) -> str | None:
    """Why ``backend`` must not hold our key, or ``None`` when it is a secure store."""
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        members = list(backend.backends)
        if not members:
            return "no secure keyring is available on this computer"
        problems = [_backend_problem(member) for member in members]
        # The chainer writes to the first backend that accepts; every member must be safe.
        return next((p for p in problems if p), None)
    module = type(backend).__module__
    if module.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return "no secure keyring is available on this computer"
    if module.startswith("keyrings.alt"):
        # keyrings.alt stores secrets in files (plain text or weakly encrypted).
        return "the only keyring available keeps secrets in a file, which is not secure"
    try:
        priority = float(getattr(backend, "priority", 0))
    except Exception:  # some backends compute priority and raise when unusable
        return "the keyring on this computer is not usable"
    if priority < 1:
        return "the keyring on this computer is not secure enough"
    return None


def keyring_status() -> tuple[bool, str]:
    """``(usable, description)`` of the OS keyring, for the unlock dialog and ``self-test``."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring install must not stop the app
        log.warning("keyring unavailable: %s", type(exc).__name__)
        return False, "no secure keyring is available on this computer"
    problem = _backend_problem(backend)
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if problem:
        # The class name helps IT, not the person setting up: the log has it, the note not.
        log.info("keyring not used: %s", name)
        return False, problem
    return True, name


def _keyring_backend() -> Any:
    usable, description = keyring_status()
    if not usable:
        raise KeyringUnavailable(
            f"The key cannot be remembered on this computer: {description}. "
            "flsdesk will ask for the passphrase each time."
        )
    import keyring

    return keyring.get_keyring()


def remember_key(key_file: Path, data_key: bytes) -> None:
    """Remember the data key in the OS keyring ("remember on this computer").

    Raises KeyringUnavailable (with the reason) when there is no secure keyring; nothing is
    stored anywhere in that case.
    """
    from keyring.errors import KeyringError

    data_key = validate_key(data_key)
    if not matches(key_file, data_key):
        raise WrongKey("That key is not the key of this store.")
    backend = _keyring_backend()
    try:
        backend.set_password(KEYRING_SERVICE, store_id(key_file), data_key.hex())
    except KeyringError as exc:
        raise KeyringUnavailable(
            "The key could not be saved in this computer's keyring; "
            "flsdesk will ask for the passphrase each time."
        ) from exc
    log.info("data key remembered in the OS keyring")


def remembered_key(key_file: Path) -> bytes | None:
    """The data key remembered for this store, or ``None`` (none, unusable keyring, stale)."""
    if not keyring_status()[0]:
        return None
    import keyring
    from keyring.errors import KeyringError

    try:
        value = keyring.get_keyring().get_password(KEYRING_SERVICE, store_id(key_file))
    except KeyringError as exc:
        log.warning("keyring read failed: %s", type(exc).__name__)
        return None
    if not value:
        return None
    try:
        data_key = validate_key(bytes.fromhex(value))
    except ValueError:
        return None
    if not matches(key_file, data_key):
        # E.g. a restore brought back a store with another key under the same id.
        log.info("remembered key does not match this store; ignored")
        return None
    return data_key


def forget_key(key_file: Path) -> None:
    """Remove the remembered key for this store, if any. Never raises for a missing entry."""
    if not keyring_status()[0]:
        return
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.get_keyring().delete_password(KEYRING_SERVICE, store_id(key_file))
    except PasswordDeleteError:
        return
    except KeyringError as exc:
        log.warning("keyring delete failed: %s", type(exc).__name__)
        return
    log.info("remembered data key forgotten")
