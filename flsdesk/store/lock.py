"""One copy of flsdesk per store: a lock file in the data folder.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) held on
``flsdesk.lock`` for as long as the store is open. The OS drops it when the process ends, however
it ends (crash, SIGKILL, power cut), so a lock left behind by a dead copy is never "stale": the
file is still there but nobody holds it, and the next copy simply takes it over. The pid and host
written into the file only make the refusal message useful.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import sys
from pathlib import Path
from types import TracebackType

from flsdesk.paths import make_private_dir
from flsdesk.store.errors import StoreError, StoreInUse

log = logging.getLogger("flsdesk.store")

LOCK_NAME = "flsdesk.lock"
# Windows byte-range locks are mandatory (a locked range cannot even be read), so we lock one
# byte far past the text and leave the pid readable for the message.
_WIN_LOCK_OFFSET = 0x7FFF0000


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOCK_NAME


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        # flock, not lockf: flock locks belong to the open file, so a second open in the same
        # process is refused too (lockf locks are per process and would let it through).
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _describe_holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and len(line) < 300
    )
    pid, host = fields.get("pid", "").strip(), fields.get("host", "").strip()
    if not pid.isdigit():
        return ""
    if host and host != socket.gethostname():
        return f" (process {pid} on the computer {host})"
    return f" (process {pid} on this computer)"


def _open_lock_file(path: Path) -> int:
    """Open (creating) the lock file, never through a symbolic link and never anything but a
    plain file: a link planted there would make us truncate and write whatever it points at."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    # O_NONBLOCK: a FIFO planted as the lock file must not hang the open.
    flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except IsADirectoryError as exc:
        raise StoreError(
            f"The lock file {path} is a folder, not a file, so the store cannot be locked. "
            "Remove that folder and try again."
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise StoreError(
                f"The lock file {path} is a symbolic link; flsdesk never follows one there. "
                "Remove the link and try again."
            ) from exc
        raise StoreError(
            f"Cannot create the lock file {path}: {exc.strerror}. Nothing was changed."
        ) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreError(
                f"The lock file {path} is not a plain file, so the store cannot be locked. "
                "Remove it and try again."
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


class StoreLock:
    """Exclusive use of the store in ``data_dir``; a context manager.

    ``acquire()`` raises StoreInUse when another copy (any process, or another StoreLock in this
    one) holds it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = lock_path(self.data_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        make_private_dir(self.data_dir)
        fd = _open_lock_file(self.path)
        try:
            if not _try_lock(fd):
                raise StoreInUse(
                    f"flsdesk is already open on this store{_describe_holder(self.path)}. "
                    "Close the other copy first."
                )
            # Ours now: whatever pid was written there belongs to a copy that has gone.
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, f"pid={os.getpid()}\nhost={socket.gethostname()}\n".encode("ascii"))
            except OSError as exc:
                # A full disk. The lock is the OS lock we now hold, not this text (which only
                # names us in the other copy's message), so the store is still ours alone; the
                # work that follows meets the full disk where it writes, and says so there.
                log.warning("lock file text not written: %s", exc.strerror)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        log.info("store lock taken")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # Clear the text before unlocking, so nobody reads our pid after we have gone; the
            # file itself stays (deleting a lock file races with the next copy opening it).
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)
        log.info("store lock released")

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # A forgotten lock is released with its object rather than with the process.
        with contextlib.suppress(Exception):
            self.release()
