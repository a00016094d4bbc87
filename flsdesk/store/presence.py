"""Is there a store, none yet, or a damaged one? Asked the same way by every command and the window.

Two rules from the field (issue 11): an interrupted restore is finished or undone *before* this
question is answered (or a store kept aside as ``*.before-restore`` looks like "no store yet", and
``init`` would then bury it), and a key file without a usable database is a *damaged* store,
never a new one (an empty database silently became a fresh store, whose emptiness was then backed
up over the real backups).
"""

from __future__ import annotations

import logging

from flsdesk.paths import AppPaths
from flsdesk.store import backup
from flsdesk.store.errors import NoStore, StoreDamaged, StoreError
from flsdesk.store.lock import StoreLock

log = logging.getLogger("flsdesk.store")

# SQLite page sizes are powers of two from 512 up, and a database file is whole pages.
_MIN_PAGE = 512


def settle(paths: AppPaths) -> None:
    """Finish or undo a restore that was cut short, under the store's lock.

    Takes the lock only when a restore left something behind, so a command that reads the store
    while the window has it open is not refused for nothing; when another process holds the
    lock (a restore still running, or the window), StoreInUse is raised.
    """
    if not backup.restore_leftovers(paths):
        return
    with StoreLock(paths.data_dir):
        backup.recover_interrupted_restore(paths)


def any_store_files(paths: AppPaths) -> bool:
    return paths.key_file.exists() or paths.database.exists()


def file_problem(paths: AppPaths, *, need_key_file: bool = True) -> str | None:
    """What is wrong with the store's files, seen without the key; None when nothing is seen.

    Only a store with at least one of its files is judged (no files at all is "no store yet").
    """
    db, key_file = paths.database, paths.key_file
    if not db.exists():
        return f"its database file {db} is missing" if key_file.exists() else None
    if db.is_dir():
        return f"its database file {db} is a folder"
    size = db.stat().st_size
    if size == 0:
        return f"its database file {db} is empty (0 bytes)"
    if size < _MIN_PAGE or size % _MIN_PAGE:
        return f"its database file {db} is cut short ({size} bytes, not whole pages)"
    if need_key_file and not key_file.exists():
        return f"its key file {key_file} is missing, so nothing can unlock the database"
    return None


def damaged(paths: AppPaths, problem: str) -> StoreDamaged:
    """The StoreDamaged to raise: what is wrong, and which backup to restore from."""
    log.error("store damaged: %s", problem)
    return StoreDamaged(
        f"The store in {paths.data_dir} is damaged: {problem}. {backup.restore_hint(paths)}"
    )


def require_store(paths: AppPaths, *, need_key_file: bool = True) -> None:
    """For every command that needs an existing store: settle an interrupted restore, then
    NoStore when there is none, StoreDamaged when what is there cannot be a working store."""
    settle(paths)
    if not any_store_files(paths):
        raise NoStore(
            f"There is no flsdesk store in {paths.data_dir} yet. "
            "Create one with 'flsdesk init --site NAME'."
        )
    problem = file_problem(paths, need_key_file=need_key_file)
    if problem:
        raise damaged(paths, problem)


def creation_blocker(paths: AppPaths) -> StoreError | None:
    """Why ``init`` or the wizard must not create a store here (StoreDamaged for a damaged
    store or a restore's leftovers, StoreError for a working one); None when it may.

    An interrupted restore is settled first; if its files are still there (settling failed),
    creating would bury the store it kept aside.
    """
    try:
        settle(paths)
    except OSError as exc:
        log.error("an interrupted restore could not be settled: %s", type(exc).__name__)
    left = backup.restore_leftovers(paths)
    if left:
        names = ", ".join(p.name for p in left[:4])
        return StoreDamaged(
            f"A restore into {paths.data_dir} was interrupted and its files are still there "
            f"({names}); nothing was created. Run any flsdesk command (for example 'flsdesk "
            "followups') to finish or undo that restore, or move those files away by hand "
            "once you have checked which store you need."
        )
    if any_store_files(paths):
        problem = file_problem(paths)
        if problem:
            return StoreDamaged(
                f"The store in {paths.data_dir} is damaged ({problem}); nothing was created, "
                f"so that it is not buried. {backup.restore_hint(paths)}"
            )
        return StoreError(
            f"A store already exists in {paths.data_dir}; nothing was changed. "
            "(To move a store to this computer, use 'flsdesk restore'.)"
        )
    return None
