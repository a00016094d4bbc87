"""``flsdesk init``, ``passwd``, ``backup DIR`` and ``restore FILE`` (README.md, "The command
line")."""

from __future__ import annotations

import argparse
from pathlib import Path

from flsdesk import files
from flsdesk.cli import prompts
from flsdesk.cli.base import EXIT_OK, EXIT_STORE, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.store import backup as backup_mod
from flsdesk.store import keys, presence
from flsdesk.store import unlock as store_unlock
from flsdesk.store.errors import StoreDamaged, StoreError
from flsdesk.store.lock import StoreLock


def register(sub: Subparsers) -> None:
    p = sub.add_parser("init", help="create the encrypted store and print its recovery key once")
    p.add_argument("--site", required=True, metavar="NAME", help="the service's name")
    p.add_argument("--org-code", metavar="CODE", help="the service's organisation code")
    p.set_defaults(handler=run_init)

    p = sub.add_parser("passwd", help="change the passphrase (the database is not re-encrypted)")
    p.set_defaults(handler=run_passwd)

    p = sub.add_parser(
        "backup",
        help="write an encrypted backup file into DIR (of the team database too: asks for "
        "the backup's own passphrase)",
    )
    p.add_argument("dir", metavar="DIR", help="folder for the backup (created if missing)")
    p.set_defaults(handler=run_backup)

    p = sub.add_parser("restore", help="replace the store with a backup, after checking it")
    p.add_argument("file", metavar="FILE", help="a .fdbk backup file")
    p.add_argument(
        "--yes",
        action="store_true",
        help="replace the store without asking (for scripts; without a terminal it is required)",
    )
    p.set_defaults(handler=run_restore)


def _new_passphrase(*env: str) -> str:
    try:
        return prompts.new_passphrase(env=env)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


# --------------------------------------------------------------------------- init


def run_init(args: argparse.Namespace, ctx: Context) -> int:
    paths = ctx.paths
    # Settles an interrupted restore first, then refuses a store, a damaged one or leftovers;
    # asked here as well as in session.create so that a refusal costs no passphrase prompt.
    blocker = presence.creation_blocker(paths)
    if blocker:
        code = EXIT_STORE if isinstance(blocker, StoreDamaged) else EXIT_USAGE
        raise CliError(str(blocker), code)
    site = args.site.strip()
    if not site:
        raise CliError("--site needs the service's name.", EXIT_USAGE)
    passphrase = _new_passphrase(store_unlock.NEW_PASSPHRASE_ENV, store_unlock.PASSPHRASE_ENV)
    # Imported here: the store pulls in the dataset and the ORM, which --help does not need.
    from flsdesk import session

    try:
        created = session.create(
            paths, passphrase, session.command_line_initials(), site, args.org_code
        )
    except FileExistsError:
        raise CliError(f"A store already exists in {paths.data_dir}.", EXIT_USAGE) from None
    created.store.close()
    print(f"Created an encrypted flsdesk store in {paths.data_dir}.")
    print()
    prompts.show_recovery_key(created.recovery_key)
    return EXIT_OK


# --------------------------------------------------------------------------- passwd


def run_passwd(args: argparse.Namespace, ctx: Context) -> int:
    paths = ctx.paths
    from flsdesk import session

    if session.team_address(paths) is not None:
        raise CliError(
            "This computer uses a team database, which has no passphrase: change your password "
            "there with 'flsdesk team passwd'.",
            EXIT_USAGE,
        )
    if not paths.data_dir.is_dir():
        store_unlock.require_store(paths)  # "no store yet", without making the folder
    # The key file has one writer at a time, like the database: unlocked, re-wrapped and
    # replaced under the store lock, so a restore (or another passwd) cannot swap the key file
    # between our read and our write and leave one that opens nothing.
    with StoreLock(paths.data_dir):
        backup_mod.recover_interrupted_restore(paths)
        store_unlock.require_store(paths)
        if not paths.database.is_file():
            raise StoreDamaged(
                f"The database {paths.database} is missing: the store is damaged, so its "
                "passphrase was not changed. Restore the latest backup with 'flsdesk restore'."
            )
        key = prompts.unlock(paths)
        new = _new_passphrase(store_unlock.NEW_PASSPHRASE_ENV)
        keys.change_passphrase(paths.key_file, key, new)
    print("Passphrase changed. The recovery key is unchanged.")
    print(
        "Backups made before today still open with the old passphrase (or the recovery key).",
    )
    return EXIT_OK


# --------------------------------------------------------------------------- backup / restore


def run_backup(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk import session

    if (team_store := session.team_address(ctx.paths)) is not None:
        from flsdesk.cli import team

        return team.run_team_backup(args, ctx, team_store)
    folder = Path(args.dir).expanduser()
    # Checked before unlocking, so a typo costs nothing; the backups folder is allowed.
    if problem := files.refusal(folder, ctx.paths, folder=True, allow_backups=True):
        raise CliError(problem, EXIT_USAGE)
    key = prompts.unlock(ctx.paths)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder} is not a folder.", EXIT_USAGE)
    try:
        made = backup_mod.backup_to_folder(ctx.paths, key, folder)
    except PermissionError:
        raise CliError(f"Cannot write into {folder}.", EXIT_USAGE) from None
    print(made)
    return EXIT_OK


def run_restore(args: argparse.Namespace, ctx: Context) -> int:
    path = Path(args.file).expanduser()
    try:
        # Checked before asking for anything: a damaged file is an unreadable input (exit 2).
        info = backup_mod.read_info(path)
    except StoreDamaged as exc:
        raise CliError(f"{path}: {exc} Nothing was changed.", EXIT_USAGE) from None
    except StoreError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if not args.yes and not prompts.stdin_is_terminal():
        # Asked before the secret: a script must not find out only after unlocking.
        raise CliError(
            f"{backup_mod.RestorePreview(info, info.records, False).describe()} Restoring it "
            f"replaces the store in {ctx.paths.data_dir}; without a terminal to ask on, add "
            "--yes to confirm. Nothing was changed.",
            EXIT_USAGE,
        )
    key = keys.unlock_document(info.key_document, prompts.backup_secret())

    def confirm(preview: backup_mod.RestorePreview) -> bool:
        # Shown even with --yes, so a script's log says what was put in place.
        print(preview.describe())
        if args.yes:
            return True
        if preview.replaces_store:
            question = f"Replace the store in {ctx.paths.data_dir} with it? [y/N] "
        else:
            question = f"Restore it into {ctx.paths.data_dir}? [y/N] "
        return prompts.confirm(question)

    try:
        done = backup_mod.restore_with_key(info, key, ctx.paths, confirm=confirm)
    except StoreDamaged as exc:
        raise CliError(f"{path}: {exc} Nothing was changed.", EXIT_USAGE) from None
    if not done:
        raise CliError("Not restored (not confirmed); nothing was changed.", EXIT_USAGE)
    print(f"Restored the store in {ctx.paths.data_dir} from {path} (made {info.created}).")
    return EXIT_OK
