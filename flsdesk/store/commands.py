"""``flsdesk init``, ``passwd``, ``backup DIR`` and ``restore FILE`` (see shared/spec/cli.md)."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
from pathlib import Path
from typing import Any

from flsdesk import files
from flsdesk.cli import EXIT_OK, EXIT_USAGE, CliError, Context
from flsdesk.paths import make_private_dir
from flsdesk.store import backup as backup_mod
from flsdesk.store import keys, unlock
from flsdesk.store.errors import StoreDamaged, StoreError, StoreInUse

RECOVERY_WARNING = """\
RECOVERY KEY (shown only this once):

    {key}

Print it or write it down, and keep it somewhere safe away from this computer. Without the
passphrase AND without this recovery key, nobody (not you, not the developers) can ever read
the data in this store again. Anyone holding the recovery key can open the store.
"""


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="create the encrypted store and print its recovery key once")
    p.add_argument("--site", required=True, metavar="NAME", help="the service's name")
    p.add_argument("--org-code", metavar="CODE", help="the service's organisation code")
    p.set_defaults(handler=run_init)

    p = sub.add_parser("passwd", help="change the passphrase (the database is not re-encrypted)")
    p.set_defaults(handler=run_passwd)

    p = sub.add_parser("backup", help="write an encrypted backup file into DIR")
    p.add_argument("dir", metavar="DIR", help="folder for the backup (created if missing)")
    p.set_defaults(handler=run_backup)

    p = sub.add_parser("restore", help="replace the store with a backup, after checking it")
    p.add_argument("file", metavar="FILE", help="a .fdbk backup file")
    p.set_defaults(handler=run_restore)


def _new_passphrase(*env: str) -> str:
    try:
        return unlock.new_passphrase(env=env)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


# --------------------------------------------------------------------------- init


def _create_database(ctx: Context, key: bytes, site: str, org_code: str | None) -> None:
    # Imported here: the records half pulls in the dataset and the ORM, which the other commands
    # do not need.
    from flsdesk.store.store import Store

    Store.create(ctx.paths, key, unlock.initials(), site, org_code).close()


def run_init(args: argparse.Namespace, ctx: Context) -> int:
    paths = ctx.paths
    if paths.database.exists() or paths.key_file.exists():
        raise CliError(
            f"A store already exists in {paths.data_dir}; nothing was changed. "
            "(To move a store to this computer, use 'flsdesk restore'.)",
            EXIT_USAGE,
        )
    site = args.site.strip()
    if not site:
        raise CliError("--site needs the service's name.", EXIT_USAGE)
    passphrase = _new_passphrase(unlock.NEW_PASSPHRASE_ENV, unlock.PASSPHRASE_ENV)
    make_private_dir(paths.data_dir)
    try:
        key, recovery = keys.create_key_file(paths.key_file, passphrase)
    except FileExistsError:
        raise CliError(f"A store already exists in {paths.data_dir}.", EXIT_USAGE) from None
    try:
        _create_database(ctx, key, site, args.org_code)
    except StoreInUse:
        paths.key_file.unlink(missing_ok=True)  # ours; the database belongs to the other copy
        raise
    except BaseException:
        # Both files are ours and hold nothing yet; a half-made store would block the next init.
        paths.key_file.unlink(missing_ok=True)
        for extra in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                Path(f"{paths.database}{extra}").unlink()
        raise
    print(f"Created an encrypted flsdesk store in {paths.data_dir}.")
    print()
    print(RECOVERY_WARNING.format(key=recovery))
    return EXIT_OK


# --------------------------------------------------------------------------- passwd


def run_passwd(args: argparse.Namespace, ctx: Context) -> int:
    key = unlock.unlock(ctx.paths)
    new = _new_passphrase(unlock.NEW_PASSPHRASE_ENV)
    keys.change_passphrase(ctx.paths.key_file, key, new)
    print("Passphrase changed. The recovery key is unchanged.")
    print(
        "Backups made before today still open with the old passphrase (or the recovery key).",
    )
    return EXIT_OK


# --------------------------------------------------------------------------- backup / restore


def run_backup(args: argparse.Namespace, ctx: Context) -> int:
    folder = Path(args.dir).expanduser()
    # Checked before unlocking, so a typo costs nothing; the backups folder is allowed.
    if problem := files.refusal(folder, ctx.paths, folder=True, allow_backups=True):
        raise CliError(problem, EXIT_USAGE)
    key = unlock.unlock(ctx.paths)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder} is not a folder.", EXIT_USAGE)
    try:
        made = backup_mod.backup_to_folder(ctx.paths, key, folder)
    except PermissionError:
        raise CliError(f"Cannot write into {folder}.", EXIT_USAGE) from None
    print(made)
    return EXIT_OK


def _backup_secret() -> str:
    for name in (unlock.PASSPHRASE_ENV, unlock.RECOVERY_ENV):
        value = os.environ.get(name)
        if value:
            return value
    if not unlock.stdin_is_terminal():
        raise StoreError(f"The backup is locked: {unlock.HOW_TO_UNLOCK}.")
    return getpass.getpass("Passphrase (when the backup was made) or recovery key: ")


def run_restore(args: argparse.Namespace, ctx: Context) -> int:
    path = Path(args.file).expanduser()
    try:
        # Checked before asking for anything: a damaged file is an unreadable input (exit 2).
        info = backup_mod.read_info(path)
    except StoreDamaged as exc:
        raise CliError(f"{path}: {exc} Nothing was changed.", EXIT_USAGE) from None
    except StoreError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    key = keys.unlock_document(info.key_document, _backup_secret())
    try:
        backup_mod.restore_with_key(info, key, ctx.paths)
    except StoreDamaged as exc:
        raise CliError(f"{path}: {exc} Nothing was changed.", EXIT_USAGE) from None
    print(f"Restored the store in {ctx.paths.data_dir} from {path} (made {info.created}).")
    return EXIT_OK
