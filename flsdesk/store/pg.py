"""The one place a connection to a team database (PostgreSQL, psycopg 3) is made.

Every engine comes from :func:`create_pg_engine`, so the TLS policy (verify the server against
the trust's CA unless it runs on this computer), the time limits and the translation of the
driver's failures into the store's errors (:func:`classify`) can never be forgotten on one code
path. The translation is hooked into the engine itself (SQLAlchemy's ``handle_error``), so a
query anywhere above the store (the patient list, the worklist, export) that loses the server
raises ``ServerUnreachable`` like the store's own writes do.

Nothing here ever formats a password into a message or a log line: errors name the server by
``address.display``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import psycopg
import sqlalchemy
from psycopg import errors as pg_errors
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext

from flsdesk.store.errors import (
    CertificateRefused,
    NoStore,
    NotAllowed,
    ServerUnreachable,
    SignInRefused,
    StoreBusy,
    StoreError,
)

log = logging.getLogger("flsdesk.store")

# An unknown host or a cut network must not leave the window waiting for minutes.
CONNECT_TIMEOUT_S = 10
# How long a write waits for another PC's write transaction (an export of 50,000 records takes
# a few seconds) before giving up with StoreBusy; SQLite's busy timeout plays the same part.
LOCK_TIMEOUT_MS = 30_000
# TCP keep-alives find a silently cut network in ~25 s instead of the system's two hours.
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class Address(Protocol):
    """What the engine needs of a store address (``flsdesk.store.address.StoreAddress``)."""

    @property
    def display(self) -> str: ...

    @property
    def is_this_computer(self) -> bool: ...

    def sqlalchemy_url(self, password: str | None) -> sqlalchemy.URL: ...


def _tls_args(address: Address, ca_file: str | Path | None) -> dict[str, Any]:
    if address.is_this_computer:
        # Nothing crosses a network; a local server without TLS is fine.
        return {"sslmode": "prefer"}
    if not ca_file:
        raise CertificateRefused(
            f"The team database at {address.display} is on another computer, so the connection "
            "must be encrypted and the server's certificate checked: choose the trust's CA "
            "certificate file in Settings first."
        )
    path = Path(ca_file)
    if not path.is_file():
        raise CertificateRefused(
            f"The CA certificate file {path} (Settings) cannot be found, so the team database at "
            f"{address.display} cannot be checked."
        )
    return {"sslmode": "verify-full", "sslrootcert": str(path)}


def create_pg_engine(
    address: Address, password: str | None, *, ca_file: str | Path | None = None
) -> sqlalchemy.Engine:
    """A SQLAlchemy 2 engine on the team database (psycopg 3), connecting lazily.

    TLS: ``verify-full`` against ``ca_file`` unless the server is on this computer (then
    ``prefer``); the policy is applied after the address's own parameters, so an address can
    never turn the check off. Failures come out as the store's errors (see :func:`classify`).
    """
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": "flsdesk",
        # Parallel workers cost more to start than the store's small, indexed queries take.
        "options": f"-c lock_timeout={LOCK_TIMEOUT_MS} -c max_parallel_workers_per_gather=0",
        **_KEEPALIVE,
        **_tls_args(address, ca_file),
    }
    engine = sqlalchemy.create_engine(
        address.sqlalchemy_url(password),
        pool_pre_ping=True,  # a connection the server dropped while idle is replaced quietly
        connect_args=connect_args,
    )
    display = address.display

    @event.listens_for(engine, "handle_error")
    def _translate(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:
            return None  # the pool is finding out whether to reconnect: let it
        return classify(context.original_exception, display)

    return engine


_UNREACHABLE = (
    ("could not translate host name", "the host name is not known"),
    ("failed to resolve host", "the host name is not known"),
    ("name or service not known", "the host name is not known"),
    ("connection refused", "nothing answers at that address and port"),
    ("timeout expired", "no answer in time"),
    ("timed out", "no answer in time"),
    ("no route to host", "the network has no way to it"),
    ("network is unreachable", "the network has no way to it"),
    ("the database system is starting up", "the server is starting"),
    ("the database system is shutting down", "the server is shutting down"),
    ("the database system is in recovery mode", "the server is recovering"),
    ("server closed the connection unexpectedly", "the connection was lost"),
    ("terminating connection", "the connection was lost"),
    ("connection is lost", "the connection was lost"),
    ("connection is closed", "the connection was lost"),
    ("consuming input failed", "the connection was lost"),
    ("sending query failed", "the connection was lost"),
    ("ssl syscall error", "the connection was lost"),
    ("eof detected", "the connection was lost"),
    ("connection reset", "the connection was lost"),
    ("broken pipe", "the connection was lost"),
    ("could not receive data", "the connection was lost"),
    ("could not send data", "the connection was lost"),
)
_CERTIFICATE = (
    ("certificate verify failed", "the server's certificate is not signed by the CA file"),
    ("does not match host name", "the server's certificate names another host"),
    ("server certificate for", "the server's certificate names another host"),
    ("root certificate file", "the CA file cannot be read"),
    ("could not read root certificate", "the CA file cannot be read"),
    ("server does not support ssl", "the server does not offer an encrypted connection"),
    ("ssl error", "the encrypted connection could not be set up"),
    ("certificate", "the server's certificate was refused"),
)
_SIGN_IN = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "does not exist",  # role "x" does not exist (peer/trust setups say so)
    "is not permitted to log in",
    "pg_hba.conf rejects connection",
    "permission denied for database",  # in none of its groups (team init revokes CONNECT)
    "too many connections for role",
)


def _lost(sqlstate: str | None) -> bool:
    # Class 08: connection exception; 57P01-57P03: the server shutting down or not yet ready.
    if not sqlstate:
        return False
    return sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")


def classify(exc: BaseException, display: str = "the team database") -> StoreError | None:
    """The store error a driver failure stands for, or None when it is none of those (a bug in
    a query, a constraint: the caller lets it propagate as it is).

    ``exc`` may be psycopg's exception or SQLAlchemy's wrapper of it. ``display`` names the
    server (its address without the password).
    """
    if isinstance(exc, StoreError):
        return exc
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        exc = orig
    if not isinstance(exc, psycopg.Error):
        return None
    text = str(exc).lower()
    where = f"The team database at {display}"
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return NotAllowed(
            f"{where} refused this: your account does not have the right to do it "
            "(ask the service's administrator for the role it needs)."
        )
    if isinstance(exc, pg_errors.LockNotAvailable):
        return StoreBusy(
            "Another computer is writing to the team database (an export or an import can take "
            "a while); nothing was changed. Try again in a moment."
        )
    if isinstance(exc, pg_errors.InvalidPassword | pg_errors.InvalidAuthorizationSpecification):
        return SignInRefused(_sign_in_message(where))
    if _lost(exc.sqlstate):
        return ServerUnreachable(_unreachable_message(where, "the connection was lost"))
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return None
    if "database" in text and "does not exist" in text:
        return NoStore(
            f"{where} has no such database: check the database name at the end of the address."
        )
    for needle, reason in _CERTIFICATE:
        if needle in text:
            return CertificateRefused(
                f"{where} did not pass the certificate check ({reason}). Check the CA "
                "certificate file in Settings; ask the database administrator if it is right."
            )
    if any(needle in text for needle in _SIGN_IN):
        return SignInRefused(_sign_in_message(where))
    for needle, reason in _UNREACHABLE:
        if needle in text:
            return ServerUnreachable(_unreachable_message(where, reason))
    if isinstance(exc, psycopg.OperationalError):
        # Any other failure to talk to the server: the connection is what failed.
        return ServerUnreachable(_unreachable_message(where, "the connection failed"))
    return None


def _sign_in_message(where: str) -> str:
    return (
        f"{where} refused the sign-in: the user name or the password is wrong, or the account "
        "is not allowed in. Nothing was changed."
    )


def _unreachable_message(where: str, reason: str) -> str:
    return (
        f"{where} cannot be reached ({reason}). Nothing half-saved is kept: check the network "
        "and try again."
    )
