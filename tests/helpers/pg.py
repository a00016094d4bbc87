"""A throw-away PostgreSQL cluster for the team-mode tests: Debian's real server, started by the
tests in a temp folder on a free port and stopped after the session.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster's files belong to the
unprivileged ``postgres`` account Debian's package creates, and every server program runs as it
(``runuser``). The server listens on 127.0.0.1 only, with password (SCRAM) authentication, so the
tests sign in the way a clinic PC would; ``fsync=off`` because the cluster is thrown away (a killed
server process still loses nothing committed; only a power cut would).

Fixtures: ``pg_cluster`` (one per test session, or per xdist worker) and ``pg_database`` (a fresh,
empty database per test, with the superuser's address).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "fls_test_super"


def _server_bin(program: str) -> str:
    """Debian keeps the server programs out of PATH, in /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{program}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(program)
    if found:
        return found
    raise RuntimeError(
        f"PostgreSQL's {program} was not found: install the server with "
        "'bash scripts/system-deps.sh' (Debian's postgresql package)."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    folder: Path
    port: int
    password: str
    run_as: str | None  # the account the server runs as when we are root

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "sock"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as:
            shutil.chown(self.folder, self.run_as)
            shutil.chown(self.socket_dir, self.run_as)
            shutil.chown(pwfile, self.run_as)
        os.chmod(pwfile, 0o600)
        self._run(
            _server_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        )
        pwfile.unlink()
        self.pg_ctl_start()

    def pg_ctl_start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        result = self._run(
            _server_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "start",
            check=False,
        )
        if result.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the test PostgreSQL server did not start:\n{result.stderr}\n{log}")

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = _server_bin("pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """A real server restart (every client connection is cut)."""
        self.stop()
        self.pg_ctl_start()

    def url(
        self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None
    ) -> str:
        """The address a client uses (with the password, for the tests' own admin work)."""
        secret = self.password if password is None and user == SUPERUSER else password
        auth = user if secret is None else f"{user}:{secret}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside any transaction (CREATE DATABASE…)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def create_database(self) -> str:
        name = f"fls_{secrets.token_hex(6)}"
        self.sql(f'CREATE DATABASE "{name}"')
        return name


def start_cluster() -> PgCluster:
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="flsdesk-pg-"))
    if run_as:
        os.chmod(folder, 0o755)
    cluster = PgCluster(folder, _free_port(), secrets.token_urlsafe(16), run_as)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.folder, ignore_errors=True)


@dataclass
class PgDatabase:
    cluster: PgCluster
    name: str

    @property
    def admin_url(self) -> str:
        """The superuser's address of this database (with the password)."""
        return self.cluster.url(self.name)

    def url(self, user: str, password: str | None = None) -> str:
        return self.cluster.url(self.name, user, password)


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[PgDatabase]:
    name = pg_cluster.create_database()
    yield PgDatabase(pg_cluster, name)
    # The server may have been stopped by the test itself.
    with contextlib.suppress(Exception):
        pg_cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
