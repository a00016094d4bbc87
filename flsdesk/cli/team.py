"""``flsdesk team …``: setting up a team database, its people, moving a single-PC store in, and
which database this computer uses (README.md, "Running flsdesk for a team").

The team database is the one chosen by ``--store ADDRESS``, FLSDESK_STORE or this computer's
setting (``team join``); ``team init`` names its own. Passwords come from FLSDESK_DB_PASSWORD (the
signing-in account), FLSDESK_NEW_DB_PASSWORD (a new account), the keyring or the terminal, and
are never printed or logged.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flsdesk.cli import prompts
from flsdesk.cli.base import EXIT_OK, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.store import address as store_address
from flsdesk.store.address import BadAddress, StoreAddress
from flsdesk.store.roles import Role

if TYPE_CHECKING:
    import sqlalchemy

    from flsdesk.paths import AppPaths
    from flsdesk.store.store import Store

ROLE_HELP = (
    "entry: create and edit records, log calls, end follow-ups; review: read only (worklist, "
    "reports); admin: also settings, export and upload, delete and purge, opt-out lists, people"
)

BACKUP_RECOVERY = """\
RECOVERY KEY of this backup (shown only this once):

    {key}

The backup opens with the passphrase you just chose or with this recovery key ('flsdesk restore
FILE' makes it this computer's local store). Keep the key somewhere safe, apart from the backup.
"""


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "team",
        help="a team database on PostgreSQL: set it up, its people, move a local store in",
        description="Work with a team database (PostgreSQL): the commands below act on the one "
        "chosen by --store ADDRESS, FLSDESK_STORE or 'team join' (team init names its own). "
        f"Roles: {ROLE_HELP}.",
    )
    team = p.add_subparsers(dest="team_command", metavar="<team command>", required=True)

    c = team.add_parser(
        "init",
        help="create the store's tables, the three roles' rights and the first admin",
        description="Run once by the database administrator's account (it must be allowed to "
        "create roles), on an empty database: creates the tables, the groups <db>_entry, "
        "<db>_review and <db>_admin with their rights, and the first admin. The account in "
        "ADDRESS signs in (password: FLSDESK_DB_PASSWORD, or asked); the admin's password: "
        "FLSDESK_NEW_DB_PASSWORD, or asked twice.",
    )
    c.add_argument("address", metavar="ADDRESS", help="postgresql://dba@host/database")
    c.add_argument("--admin", required=True, metavar="NAME", help="the first admin's user name")
    c.add_argument("--site", metavar="NAME", help="the service's name")
    c.add_argument("--org-code", metavar="CODE", help="the service's organisation code")
    _ca_option(c)
    _no_password_option(c)
    c.set_defaults(handler=run_init)

    c = team.add_parser(
        "add-user",
        help="add a person who signs in with their own user name (admin only)",
        description="Add a person to the team database. Their password: "
        "FLSDESK_NEW_DB_PASSWORD, or asked twice; hand it to them in person.",
    )
    c.add_argument("name", metavar="NAME", help="their user name (lower case)")
    c.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help=f"their role ({ROLE_HELP})"
    )
    _no_password_option(c)
    c.set_defaults(handler=run_add_user)

    c = team.add_parser(
        "remove-user",
        help="stop a person signing in (admin only); their audit entries stay",
        description="They can no longer sign in, and a session of theirs still open is ended. "
        "What they did stays in the audit trail under their name.",
    )
    c.add_argument("name", metavar="NAME")
    c.set_defaults(handler=run_remove_user)

    c = team.add_parser(
        "passwd",
        help="change your own password in the team database",
        description="Change the password you sign in with (any role). The new one: "
        "FLSDESK_NEW_DB_PASSWORD, or asked twice. A password remembered in this computer's "
        "keyring is replaced.",
    )
    c.set_defaults(handler=run_passwd)

    c = team.add_parser("users", help="list the people of the team database and their roles")
    c.set_defaults(handler=run_users)

    c = team.add_parser(
        "migrate-from-local",
        help="copy this computer's store into an empty team database (admin only)",
        description="Copy the single-PC store (--data-dir) into the team database: every record "
        "with its audit trail, deleted records still restorable, export batches, opt-out lists, "
        "call attempts and settings, all or nothing. The local store is only read. A team "
        "database that already holds records is refused.",
    )
    c.set_defaults(handler=run_migrate_from_local)

    c = team.add_parser(
        "join",
        help="make this computer use a team database (checks the sign-in first)",
        description="Sign in to the team database once, then keep its address (without the "
        "password) and CA file as this computer's settings: every command and the window use "
        "it from then on. --remember keeps the password in the OS keyring.",
    )
    c.add_argument("address", metavar="ADDRESS", help="postgresql://you@host/database")
    _ca_option(c)
    c.add_argument(
        "--remember",
        action="store_true",
        help="keep the password in this computer's secure keyring (never in a file)",
    )
    c.set_defaults(handler=run_join)

    c = team.add_parser(
        "leave",
        help="make this computer use its own local store again (the team database is unchanged)",
    )
    c.set_defaults(handler=run_leave)


def _ca_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        help="the trust's certificate authority file (PEM) for a database on another computer "
        "(default: this computer's setting)",
    )


def _no_password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-password",
        action="store_true",
        help="set no password: the server signs this person in another way (GSSAPI/Kerberos, "
        "as its pg_hba.conf says)",
    )


# --------------------------------------------------------------------------- helpers


def _parse(text: str, ca_file: str | None = None) -> StoreAddress:
    try:
        where = StoreAddress.parse(text)
    except BadAddress as exc:
        raise CliError(f"ADDRESS: {exc}", EXIT_USAGE) from None
    return _with_ca(where, ca_file)


def _with_ca(where: StoreAddress, ca_file: str | None) -> StoreAddress:
    if not ca_file:
        return where
    path = Path(ca_file).expanduser()
    if not path.is_file():
        raise CliError(f"--ca-file: there is no file {path}.", EXIT_USAGE)
    return where.with_option("sslrootcert", str(path.resolve()))


def _chosen(paths: AppPaths) -> StoreAddress:
    from flsdesk import session

    try:
        where = session.team_address(paths)
    except BadAddress as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if where is None:
        raise CliError(
            "No team database is chosen: give --store ADDRESS, set FLSDESK_STORE, or run "
            "'flsdesk team join ADDRESS' once on this computer.",
            EXIT_USAGE,
        )
    return where


def _engine(paths: AppPaths, where: StoreAddress, password: str | None) -> sqlalchemy.Engine:
    from flsdesk.store.pg import create_pg_engine

    return create_pg_engine(where, password, ca_file=where.ca_file(paths))


def _new_password(args: argparse.Namespace, who: str) -> str | None:
    if args.no_password:
        return None
    try:
        return prompts.new_team_password(who)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _checked_name(name: str) -> str:
    from flsdesk.store import team

    try:
        return team.check_user_name(name)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _open_team(paths: AppPaths, where: StoreAddress) -> Store:
    from flsdesk import session

    return prompts.with_team_password(where, lambda pw: session.open_team(paths, where, pw))


def _require_admin(store: Store, doing: str) -> None:
    from flsdesk.store.errors import NotAllowed

    if store.role is not Role.ADMIN:
        raise NotAllowed(
            f"{doing} needs the admin role; {store.user} signs in to {store.address_display} "
            f"with the {store.role.value} role. Ask one of the service's admins."
        )


# --------------------------------------------------------------------------- init and people


def run_init(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.store import team, team_schema

    where = _parse(args.address, args.ca_file)
    admin = _checked_name(args.admin)
    if where.user == admin:
        raise CliError(
            "--admin must name a new user, not the administrator's account in ADDRESS.",
            EXIT_USAGE,
        )
    site = (args.site or "").strip() or None
    # Asked before signing in, so that a mistyped pair costs no half-made database.
    admin_password = _new_password(args, admin)

    def init(password: str | None) -> None:
        engine = _engine(ctx.paths, where, password)
        try:
            team.init_team(
                engine,
                admin,
                admin_password,
                create_schema=lambda e: team_schema.create_schema(
                    e, service_name=site, org_code=args.org_code
                ),
            )
        finally:
            engine.dispose()

    try:
        prompts.with_team_password(where, init)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(f"Set up the team database {where.display}: tables, roles and rights.")
    print(f"The first admin is {admin}. Add people with 'flsdesk team add-user NAME --role …'.")
    return EXIT_OK


def run_add_user(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.store import team

    where = _chosen(ctx.paths)
    name = _checked_name(args.name)
    role = Role(args.role)
    new_password = _new_password(args, name)

    def add(password: str | None) -> None:
        engine = _engine(ctx.paths, where, password)
        try:
            team.add_user(engine, name, role, new_password)
        finally:
            engine.dispose()

    _admin_call(where, add, "Adding people")
    print(f"Added {name} to {where.display} with the {role.value} role.")
    if new_password is not None:
        print("Give them their password in person; they can sign in now.")
    return EXIT_OK


def run_remove_user(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.store import team

    where = _chosen(ctx.paths)
    name = _checked_name(args.name)

    def remove(password: str | None) -> None:
        engine = _engine(ctx.paths, where, password)
        try:
            team.remove_user(engine, name)
        finally:
            engine.dispose()

    _admin_call(where, remove, "Removing people")
    print(f"{name} can no longer sign in to {where.display}; their audit entries stay.")
    return EXIT_OK


def _admin_call(where: StoreAddress, action: Callable[[str | None], None], doing: str) -> None:
    """Run a people-changing call; the server's refusals become sentences (the function's own
    message: no such user, the last admin…; no right to call it: the admin role)."""
    import sqlalchemy.exc

    from flsdesk.store.errors import NotAllowed

    try:
        prompts.with_team_password(where, action)
    except NotAllowed:
        raise NotAllowed(
            f"{doing} needs the admin role in {where.display}; ask one of the service's admins."
        ) from None
    except sqlalchemy.exc.DBAPIError as exc:
        diag = getattr(exc.orig, "diag", None)
        primary = getattr(diag, "message_primary", None)
        if primary:
            raise CliError(
                f"{where.display}: {primary}; nothing was changed.", EXIT_USAGE
            ) from None
        raise
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def run_passwd(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.store import team

    where = _chosen(ctx.paths)
    who = where.user or "you"
    try:
        new_password = prompts.new_team_password(who)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None

    def change(password: str | None) -> str:
        engine = _engine(ctx.paths, where, password)
        try:
            return team.change_own_password(engine, new_password)
        finally:
            engine.dispose()

    who = prompts.with_team_password(where, change)
    if store_address.remembered_password(where) is not None:
        store_address.remember_password(where, new_password)
    print(f"The password of {who} in {where.display} is changed.")
    return EXIT_OK


def run_users(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.store import team

    where = _chosen(ctx.paths)

    def listing(password: str | None) -> list[team.TeamUser]:
        engine = _engine(ctx.paths, where, password)
        try:
            return team.users(engine)
        finally:
            engine.dispose()

    people = prompts.with_team_password(where, listing)
    if not people:
        print(f"{where.display} has no flsdesk users (was 'flsdesk team init' run?).")
        return EXIT_OK
    width = max(len(p.name) for p in people)
    for person in people:
        note = "" if person.can_sign_in else "  (cannot sign in)"
        print(f"{person.name:<{width}}  {person.role.value}{note}")
    return EXIT_OK


# --------------------------------------------------------------------------- moving in


def run_migrate_from_local(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.store import migrations, presence, team
    from flsdesk.store.engine import create_engine
    from flsdesk.store.lock import StoreLock

    paths = ctx.paths
    where = _chosen(paths)
    if not paths.data_dir.is_dir():
        presence.require_store(paths)  # "no store yet", without making the folder
    # Held throughout: nobody changes the local store while it is copied.
    with StoreLock(paths.data_dir):
        presence.require_store(paths)
        key = prompts.unlock(paths)
        local = create_engine(paths.database, key)
        try:
            raw = local.raw_connection()
            try:
                schema = migrations.schema_version(raw.driver_connection)
            finally:
                raw.close()
            migrations.check_not_newer(schema)
            if schema != migrations.CURRENT_SCHEMA:
                raise CliError(
                    f"The local store is at schema {schema}, this flsdesk writes schema "
                    f"{migrations.CURRENT_SCHEMA}: open it once with this version (for example "
                    "'flsdesk followups') so it is upgraded, then move it. Nothing was copied.",
                    EXIT_USAGE,
                )
            store = _open_team(paths, where)
            with store:
                _require_admin(store, "Moving a store into the team database")
                try:
                    with store.write_transaction(Role.ADMIN) as target:
                        moved = team.migrate_from_local(
                            local, target, migrations.CURRENT_SCHEMA, where.database
                        )
                except team.NotEmpty as exc:
                    raise CliError(str(exc), EXIT_USAGE) from None
        finally:
            local.dispose()
    print(f"Copied the local store into {where.display}: {team.summary(moved.counts)}.")
    print(f"The local store in {paths.data_dir} is unchanged; this computer still uses it")
    print(f"until you run 'flsdesk team join {where.display}'.")
    return EXIT_OK


# --------------------------------------------------------------------------- backup


def run_team_backup(args: argparse.Namespace, ctx: Context, where: StoreAddress) -> int:
    """``flsdesk backup DIR`` on a team store: the same encrypted file format as the local
    store's, under a new passphrase (asked like ``init``'s), so a service can move back."""
    from flsdesk.store import backup, team
    from flsdesk.store import unlock as store_unlock

    folder = Path(args.dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder} is not a folder.", EXIT_USAGE)
    store = _open_team(ctx.paths, where)
    with store:
        try:
            passphrase = prompts.new_passphrase(
                env=(store_unlock.NEW_PASSPHRASE_ENV, store_unlock.PASSPHRASE_ENV)
            )
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        try:
            made, recovery_key = backup.backup_from_copy(
                folder, passphrase, team.copy_team_into(store.engine)
            )
        except PermissionError:
            raise CliError(f"Cannot write into {folder}.", EXIT_USAGE) from None
    print(made)
    print(BACKUP_RECOVERY.format(key=recovery_key), file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- this computer


def run_join(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk import session

    where = _parse(args.address, args.ca_file)

    def join(password: str | None) -> session.Joined:
        return session.join_team(ctx.paths, where, password, remember=args.remember)

    joined = prompts.with_team_password(where, join)
    with joined.store as store:
        user, role = store.user, store.role
    print(f"This computer now uses the team database {where.without_option('sslrootcert')}")
    print(f"(signed in as {user}, {role.value} role).")
    if args.remember:
        if joined.remembered:
            print("The password is remembered in this computer's keyring.")
        else:
            print(joined.remember_problem or "No password was given, so none is remembered.")
    return EXIT_OK


def run_leave(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk import settings as app_settings

    current = app_settings.read_pc_settings(ctx.paths.config_dir).get("store_address")
    if not current:
        print("This computer already uses its own local store.")
        return EXIT_OK
    # An address that never parsed has no password to forget.
    with contextlib.suppress(BadAddress):
        store_address.forget_password(StoreAddress.parse(str(current)))
    app_settings.write_pc_setting(ctx.paths.config_dir, "store_address", "")
    app_settings.write_pc_setting(ctx.paths.config_dir, "remember_db_password", False)
    print(f"This computer uses its own local store again (in {ctx.paths.data_dir}).")
    print(f"The team database {current} is unchanged.")
    return EXIT_OK
