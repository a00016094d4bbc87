"""Where a team store lives: a PostgreSQL address, how it is shown, how TLS is chosen, and where
its password may come from.

An address is ``postgresql://user[:password]@host[:port]/database[?option=value…]`` (also
``postgres://``). The password is accepted in it (libpq accepts it too) but is never shown, logged
or written back: ``display`` is the only form that leaves this module, in messages, logs, the
per-PC settings and as the keyring's user name.

Which store a run uses: ``--store`` beats ``FLSDESK_STORE`` beats the per-PC setting
``store_address``; none of them means the single-PC encrypted store (the default).

The password: ``FLSDESK_DB_PASSWORD`` (scripts), else the OS keyring when the person ticked
"remember" (service ``flsdesk-team``, user name = ``identity``: the display form without its
options), else the front end asks. It is never written in clear anywhere.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from flsdesk import settings as app_settings
from flsdesk.paths import AppPaths
from flsdesk.store.errors import KeyringUnavailable

if TYPE_CHECKING:
    import sqlalchemy

# Every command reads the chosen address before it runs: the database driver, SQLAlchemy and the
# keyring are imported only when an address is used.

log = logging.getLogger("flsdesk.store")

STORE_ENV = "FLSDESK_STORE"
PASSWORD_ENV = "FLSDESK_DB_PASSWORD"
KEYRING_SERVICE = "flsdesk-team"

SCHEMES = ("postgresql", "postgres")
# The libpq options an address may carry. Anything else is refused by name rather than passed
# on, so a typo ("sslmod=") is not silently ignored by the server's defaults.
ALLOWED_OPTIONS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "connect_timeout",
        "application_name",
        "host",
        "hostaddr",
        "port",
        "gssencmode",
        "krbsrvname",
        "target_session_attrs",
        "channel_binding",
    }
)
# Without verify-full a man in the middle with any certificate (or none) reads the patients;
# flsdesk.store.pg applies it, and an address may not ask for less.
REMOTE_SSLMODE = "verify-full"


class BadAddress(ValueError):
    """The text is not a team database address; the message says what is wrong."""


@dataclass(frozen=True)
class StoreAddress:
    host: str
    port: int | None
    database: str
    user: str | None
    password: str | None = field(default=None, repr=False, compare=False)
    params: tuple[tuple[str, str], ...] = ()

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> StoreAddress:
        raw = (text or "").strip()
        if not raw:
            raise BadAddress("The team database address is empty.")
        scheme, sep, _rest = raw.partition("://")
        if not sep or scheme.lower() not in SCHEMES:
            raise BadAddress(
                "A team database address starts with postgresql:// (for example "
                "postgresql://jsmith@db.trust.nhs.uk/fls); "
                f"'{_shown_scheme(raw)}' is not one."
            )
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise BadAddress(
                "The port in the team database address must be a number from 1 to 65535."
            ) from None
        if parts.fragment:
            raise BadAddress("A team database address has no '#' part.")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise BadAddress(
                "The team database address must name the database after the host, as in "
                "postgresql://jsmith@db.trust.nhs.uk/fls."
            )
        params: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in ALLOWED_OPTIONS:
                raise BadAddress(
                    f"The team database address has an option flsdesk does not know: '{key}' "
                    f"(known: {', '.join(sorted(ALLOWED_OPTIONS))})."
                )
            params.append((key, value))
        host = parts.hostname or ""
        address = cls(
            host=host,
            port=port if port is not None else None,
            database=database,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            params=tuple(params),
        )
        mode = address.option("sslmode")
        if mode is not None and not address.is_this_computer and mode != REMOTE_SSLMODE:
            raise BadAddress(
                f"sslmode={mode} is not allowed for a team database on another computer: "
                f"flsdesk always uses sslmode={REMOTE_SSLMODE} there (the connection is "
                "encrypted and the server's certificate is checked against your trust's CA file)."
            )
        return address

    def option(self, key: str) -> str | None:
        for name, value in self.params:
            if name == key:
                return value
        return None

    # -- showing ------------------------------------------------------------------------------

    @property
    def display(self) -> str:
        """The address without its password: the only form shown, logged or stored."""
        who = f"{quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        query = f"?{urlencode(self.params)}" if self.params else ""
        return f"postgresql://{who}{host}{port}/{quote(self.database, safe='')}{query}"

    @property
    def identity(self) -> str:
        """Who signs in where (the display form without its options): the keyring's user name,
        so that a new CA file or time-out does not lose a remembered password."""
        return StoreAddress(self.host, self.port, self.database, self.user).display

    def __str__(self) -> str:
        return self.display

    def without_password(self) -> StoreAddress:
        return StoreAddress(self.host, self.port, self.database, self.user, None, self.params)

    def with_option(self, key: str, value: str) -> StoreAddress:
        params = tuple(p for p in self.params if p[0] != key)
        return StoreAddress(
            self.host, self.port, self.database, self.user, self.password, (*params, (key, value))
        )

    def without_option(self, key: str) -> StoreAddress:
        params = tuple(p for p in self.params if p[0] != key)
        return StoreAddress(self.host, self.port, self.database, self.user, self.password, params)

    # -- connecting ---------------------------------------------------------------------------

    @property
    def is_this_computer(self) -> bool:
        """The server is on this computer (loopback or a local socket): TLS is not required,
        because nothing leaves the machine. With ``hostaddr`` (libpq connects there and checks
        the certificate against the host name) both must be local."""
        target = self.option("hostaddr")
        if target is not None and not app_settings.is_this_computer(target):
            return False
        socket_dir = self.option("host")
        if not self.host:
            return not socket_dir or socket_dir.startswith("/")
        if self.host.startswith("/"):
            return True
        return app_settings.is_this_computer(self.host)

    def sqlalchemy_url(self, password: str | None) -> sqlalchemy.URL:
        """A ``postgresql+psycopg`` URL; its own string form hides the password."""
        import sqlalchemy

        return sqlalchemy.URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=password,
            host=self.host or None,
            port=self.port,
            database=self.database,
            query={k: v for k, v in self.params if k not in ("sslmode", "sslrootcert")},
        )

    def ca_file(self, paths: AppPaths) -> str | None:
        """The trust's CA file for this address: its own ``sslrootcert`` option, else this
        computer's setting ``team_ca_file`` (``flsdesk.store.pg`` applies the TLS policy)."""
        return self.option("sslrootcert") or ca_file_setting(paths)


def _shown_scheme(raw: str) -> str:
    # Only what is before "://" (or the first few characters): the rest may hold a password.
    head = raw.partition("://")[0] if "://" in raw else raw
    return head[:20]


def looks_like_address(text: str | None) -> bool:
    return bool(text) and str(text).strip().lower().startswith(tuple(f"{s}://" for s in SCHEMES))


# --------------------------------------------------------------------------- which store


@dataclass(frozen=True)
class Chosen:
    address: StoreAddress
    source: str  # "--store", FLSDESK_STORE or "the setting store_address", for messages


def chosen_address(paths: AppPaths, given: str | None = None) -> Chosen | None:
    """The team store this run uses (``--store`` > FLSDESK_STORE > the per-PC setting), or None
    for the local store. BadAddress names where the bad address came from."""
    candidates = (
        ("--store", given),
        (STORE_ENV, os.environ.get(STORE_ENV)),
        ("the setting store_address", _setting(paths, "store_address")),
    )
    for source, text in candidates:
        if text and str(text).strip():
            try:
                return Chosen(StoreAddress.parse(str(text)), source)
            except BadAddress as exc:
                raise BadAddress(f"{source}: {exc}") from None
    return None


def ca_file_setting(paths: AppPaths) -> str | None:
    value = _setting(paths, "team_ca_file")
    return str(value) if value else None


def _setting(paths: AppPaths, key: str) -> Any:
    return app_settings.read_pc_settings(paths.config_dir).get(key)


def save_address(paths: AppPaths, text: str) -> StoreAddress:
    """Keep the team database's address as this computer's choice (wizard, Settings, ``team
    join``); only its display form is written, so a password typed into it is never kept."""
    address = StoreAddress.parse(text)
    app_settings.write_pc_setting(paths.config_dir, "store_address", address.display)
    return address


# --------------------------------------------------------------------------- password


def password_without_asking(address: StoreAddress) -> str | None:
    """The password from the address itself, FLSDESK_DB_PASSWORD, or the keyring; None when a
    person must be asked (or the server needs none: GSSAPI, a client certificate)."""
    if address.password:
        return address.password
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    return remembered_password(address)


def remember_password(address: StoreAddress, password: str) -> None:
    """Keep the password in the OS keyring ("remember on this computer"); KeyringUnavailable
    (with the reason) when there is no secure keyring, and then it is kept nowhere."""
    from keyring.errors import KeyringError

    from flsdesk.store import keys

    usable, description = keys.keyring_status()
    if not usable:
        raise KeyringUnavailable(
            f"The password cannot be remembered on this computer: {description}. "
            "flsdesk will ask for it each time."
        )
    import keyring

    try:
        keyring.get_keyring().set_password(KEYRING_SERVICE, address.identity, password)
    except KeyringError as exc:
        raise KeyringUnavailable(
            "The password could not be saved in this computer's keyring; "
            "flsdesk will ask for it each time."
        ) from exc
    log.info("team database password remembered in the OS keyring")


def remembered_password(address: StoreAddress) -> str | None:
    from flsdesk.store import keys

    if not keys.keyring_status()[0]:
        return None
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_keyring().get_password(KEYRING_SERVICE, address.identity) or None
    except KeyringError as exc:
        log.warning("keyring read failed: %s", type(exc).__name__)
        return None


def forget_password(address: StoreAddress) -> None:
    """Remove a remembered password (it was refused, or "remember" was unticked)."""
    from flsdesk.store import keys

    if not keys.keyring_status()[0]:
        return
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.get_keyring().delete_password(KEYRING_SERVICE, address.identity)
    except PasswordDeleteError:
        return
    except KeyringError as exc:
        log.warning("keyring delete failed: %s", type(exc).__name__)
        return
    log.info("remembered team database password forgotten")
