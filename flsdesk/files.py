"""Writing a file of patient data atomically, readable by its owner only.

The data goes to a temporary file in the target folder (same file system, so the rename is
atomic), is flushed and fsynced, and only then renamed over the target — inside ``commit``, so
the caller can record the file in the store in the same step. A crash before the rename leaves
the target untouched (a left-over temporary file is removed by the next write into that folder);
the temporary file's name holds no patient data.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("flsdesk.files")

TEMP_PREFIX = ".flsdesk-write-"
TEMP_SUFFIX = ".tmp"


class WriteError(OSError):
    """The file could not be written; ``str()`` is a sentence for the user."""


def _remove_leftovers(folder: Path) -> None:
    # Only our own, unmistakably named temporary files: what a killed earlier write left behind.
    for stale in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            stale.unlink()
            log.info("removed a temporary file left by an interrupted write")


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op elsewhere."""
    if os.name != "posix":
        return  # Windows cannot open a folder for fsync; NTFS journals the rename itself
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path,
    chunks: Iterable[bytes],
    commit: Callable[[Callable[[], None]], None] | None = None,
) -> str:
    """Write ``chunks`` to ``path`` atomically (mode 0600); returns the file's SHA-256.

    ``commit(replace)`` is called once the data is safely on disk; it must call ``replace()``
    (typically inside a database transaction, so that the file and its record appear together).
    Without ``commit`` the rename happens straight away.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise WriteError(f"The folder {folder} does not exist.")
    _remove_leftovers(folder)
    try:
        # mkstemp creates the file with mode 0600 on POSIX: never readable by others, not even
        # for a moment.
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    except PermissionError:
        raise WriteError(f"Cannot write into {folder}.") from None
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())

        def replace() -> None:
            try:
                os.replace(tmp, path)
            except PermissionError:
                raise WriteError(
                    f"{path} cannot be replaced: is it open in another program (Excel)? "
                    "Close it and try again."
                ) from None
            if os.name == "posix":
                os.chmod(path, 0o600)
            fsync_folder(folder)

        if commit is None:
            replace()
        else:
            commit(replace)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return digest.hexdigest()


def write_text(path: Path, text: str, encoding: str = "utf-8") -> str:
    """Write ``text`` atomically to a file readable by its owner only; returns its SHA-256."""
    return atomic_write(Path(path), [text.encode(encoding)])


@contextmanager
def private_path(path: Path | str) -> Iterator[Path]:
    """A temporary path for writers that need a file name (Qt's PDF printer); on success it
    replaces ``path`` atomically, 0600, like ``atomic_write``; on failure nothing changes."""
    target = Path(path).expanduser()
    folder = target.parent
    if not folder.is_dir():
        raise WriteError(f"The folder {folder} does not exist.")
    _remove_leftovers(folder)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if os.name == "posix":
            os.chmod(tmp, 0o600)  # a writer that re-created the file may have widened it
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_folder(folder)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
