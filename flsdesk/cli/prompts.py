"""Everything the command line asks or tells on the terminal: the passphrase prompt, a new
passphrase asked twice, "are you sure" questions and the recovery-key printout.

The storage package never talks to the terminal: ``flsdesk.store.unlock`` reads the environment
and the keyring, and is handed ``ask_secret`` below for the rest.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from flsdesk.paths import AppPaths
from flsdesk.store import address as store_address
from flsdesk.store import keys
from flsdesk.store import unlock as store_unlock
from flsdesk.store.errors import StoreError, WrongKey

if TYPE_CHECKING:
    from flsdesk.store.store import Store

T = TypeVar("T")

PROMPT_ATTEMPTS = 3

Prompt = Callable[[str], str]

RECOVERY_WARNING = """\
RECOVERY KEY (shown only this once):

    {key}

Print it or write it down, and keep it somewhere safe away from this computer. Without the
passphrase AND without this recovery key, nobody (not you, not the developers) can ever read
the data in this store again. Anyone holding the recovery key can open the store.
"""


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


def _secret_asker(prompt: Prompt) -> store_unlock.AskPerson:
    def ask(paths: AppPaths) -> bytes:
        for attempt in range(1, PROMPT_ATTEMPTS + 1):
            secret = prompt("Passphrase (or recovery key) for the flsdesk store: ")
            if not secret:
                continue
            try:
                # The terminal accepts either: the recovery key is recognised by its checksum.
                return keys.unlock_document(keys.read_key_document(paths.key_file), secret)
            except WrongKey as exc:
                if attempt == PROMPT_ATTEMPTS:
                    raise
                print(f"{exc} Try again.", file=sys.stderr)
        raise WrongKey("No passphrase was given.")

    return ask


def unlock(
    paths: AppPaths,
    *,
    prompt: Prompt | None = None,
    interactive: bool | None = None,
    use_keyring: bool = True,
) -> bytes:
    """The data key as the CLI spec says: environment, keyring, then the terminal.

    ``prompt`` and ``interactive`` exist for tests; by default ``getpass`` is used when stdin is
    a terminal, and without one the StoreError says how to unlock.
    """
    if interactive is None:
        interactive = stdin_is_terminal()
    ask = _secret_asker(prompt or getpass.getpass) if interactive else None
    return store_unlock.unlock(paths, ask=ask, use_keyring=use_keyring)


def open_store_for_command(paths: AppPaths) -> Store:
    """Unlock (environment, keyring, terminal) and open the store; the audit trail names
    FLSDESK_INITIALS, or "CLI", with the OS account. With a team database chosen (``--store``,
    FLSDESK_STORE, this computer's setting) it signs in there instead, and the audit trail
    names the database user."""
    from flsdesk import session  # the store pulls in SQLAlchemy and the dataset: not for --help

    team = session.team_address(paths)
    if team is not None:
        store = with_team_password(team, lambda pw: session.open_team(paths, team, pw))
    else:
        store = session.open_store(paths, unlock(paths), session.command_line_initials())
    if store.rederived is not None and (notice := store.rederived.notice()):
        # Said once: the new fingerprint is stored, so the next open re-derives nothing.
        print(notice, file=sys.stderr)
    return store


def with_team_password(
    where: store_address.StoreAddress,
    action: Callable[[str | None], T],
    *,
    prompt: Prompt | None = None,
    interactive: bool | None = None,
) -> T:
    """Run ``action(password)`` with the team database password: from the address,
    FLSDESK_DB_PASSWORD or the keyring; else asked on the terminal (again after a refusal, up to
    three times). Without a terminal it tries without one (GSSAPI, a client certificate) and a
    refusal then says how to give it."""
    from flsdesk.store.errors import SignInRefused

    password = store_address.password_without_asking(where)
    if interactive is None:
        interactive = stdin_is_terminal()
    ask = prompt or getpass.getpass
    question = f"Password of {where.display}: "
    if password is None and interactive:
        password = ask(question) or None
    for attempt in range(1, PROMPT_ATTEMPTS + 1):
        try:
            return action(password)
        except SignInRefused as exc:
            if password is None and not interactive:
                raise SignInRefused(
                    f"{exc} No password was given: set {store_address.PASSWORD_ENV}, or run the "
                    "command in a terminal to be asked."
                ) from None
            if not interactive or attempt == PROMPT_ATTEMPTS:
                raise
            print(f"{exc} Try again.", file=sys.stderr)
            password = ask(question) or None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _new_secret(
    env: tuple[str, ...],
    check: Callable[[str], None],
    *,
    missing: str,
    question: str,
    again: str,
    differ: str,
    prompt: Prompt | None,
    interactive: bool | None,
) -> str:
    """A new secret: from the first set variable in ``env``, else asked twice on the terminal;
    ``check`` raises ValueError when it is too weak."""
    for name in env:
        value = os.environ.get(name)
        if value:
            check(value)
            return value
    if interactive is None:
        interactive = stdin_is_terminal()
    if not interactive:
        raise ValueError(missing)
    ask = prompt or getpass.getpass
    first = ask(question)
    check(first)
    if ask(again) != first:
        raise ValueError(differ)
    return first


def new_passphrase(
    *,
    env: tuple[str, ...] = (store_unlock.NEW_PASSPHRASE_ENV,),
    prompt: Prompt | None = None,
    interactive: bool | None = None,
) -> str:
    """A new passphrase: from the first set variable in ``env``, else asked twice on the terminal.

    Raises ValueError (a sentence for the user) when it is too short, the two entries differ, or
    there is no way to ask.
    """
    return _new_secret(
        env,
        keys.check_new_passphrase,
        missing=f"No new passphrase: set {' or '.join(env)}, or run the command in a terminal.",
        question=f"New passphrase (at least {keys.MIN_PASSPHRASE_LENGTH} characters): ",
        again="The same passphrase again: ",
        differ="The two passphrases are not the same; nothing was changed.",
        prompt=prompt,
        interactive=interactive,
    )


def new_team_password(
    who: str, *, prompt: Prompt | None = None, interactive: bool | None = None
) -> str:
    """A new database user's password: FLSDESK_NEW_DB_PASSWORD, else asked twice. ValueError
    (a sentence for the user) when too short, the two differ, or there is no way to ask."""
    from flsdesk.store import team

    return _new_secret(
        (team.NEW_PASSWORD_ENV,),
        team.check_new_password,
        missing=f"No password for {who}: set {team.NEW_PASSWORD_ENV}, or run the command in a "
        "terminal.",
        question=f"New password for {who} (at least {team.MIN_PASSWORD_LENGTH} characters): ",
        again="The same password again: ",
        differ="The two passwords are not the same; nothing was changed.",
        prompt=prompt,
        interactive=interactive,
    )


def backup_secret() -> str:
    """The secret for a backup file: the environment's, else asked on the terminal."""
    for name in (store_unlock.PASSPHRASE_ENV, store_unlock.RECOVERY_ENV):
        value = os.environ.get(name)
        if value:
            return value
    if not stdin_is_terminal():
        raise StoreError(f"The backup is locked: {store_unlock.HOW_TO_UNLOCK}.")
    return getpass.getpass("Passphrase (when the backup was made) or recovery key: ")


def confirm(question: str) -> bool:
    """A yes/no question on the terminal; anything but yes (end of input included) is no."""
    try:
        answer = input(question)
    except EOFError:
        answer = ""
    return answer.strip().lower() in {"y", "yes"}


def show_recovery_key(recovery_key: str) -> None:
    print(RECOVERY_WARNING.format(key=recovery_key))
