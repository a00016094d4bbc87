"""TLS to a team database on another computer: a real server with ssl=on and a certificate made
here, reached by a host name that is not this computer's (libpq's hostaddr points it at the
local server). The right CA file lets flsdesk in; another CA, or a certificate naming another
host, is refused with exit 3, and no password shows anywhere."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flsdesk.cli import EXIT_OK, EXIT_STORE, main
from flsdesk.paths import resolve
from tests.helpers.pg import SUPERUSER, PgCluster, start_cluster

pytestmark = pytest.mark.slow  # a cluster of its own

HOST = "fls-db.test"
ADMIN_PASSWORD = "tls-admin-Pa55word"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, host: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class TlsServer:
    cluster: PgCluster
    trust_ca: Path  # signed the server's certificate
    other_ca: Path  # a CA that did not

    def address(self, user: str, database: str, host: str = HOST) -> str:
        return f"postgresql://{user}@{host}:{self.cluster.port}/{database}?hostaddr=127.0.0.1"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _ca("Trust Test CA")
    _, other_cert = _ca("Some Other CA")
    server_key, server_cert = _server_cert(ca_key, ca_cert, HOST)
    (folder / "trust-ca.pem").write_bytes(_pem(ca_cert))
    (folder / "other-ca.pem").write_bytes(_pem(other_cert))
    cluster = start_cluster()
    try:
        crt, key = cluster.data / "server.crt", cluster.data / "server.key"
        crt.write_bytes(_pem(server_cert))
        key.write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(key, 0o600)
        if cluster.run_as:
            for f in (crt, key):
                shutil.chown(f, cluster.run_as)
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        cluster.restart()
        yield TlsServer(cluster, folder / "trust-ca.pem", folder / "other-ca.pem")
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_team_environment(monkeypatch):
    for name in ("FLSDESK_STORE", "FLSDESK_DB_PASSWORD", "FLSDESK_NEW_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def team_on_tls(tls_server: TlsServer, monkeypatch, capsys) -> tuple[TlsServer, str, str]:
    """A team database set up over verify-full TLS (which itself shows the right CA works)."""
    database = tls_server.cluster.create_database()
    admin = f"adm_{database[-12:]}"
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", tls_server.cluster.password)
    monkeypatch.setenv("FLSDESK_NEW_DB_PASSWORD", ADMIN_PASSWORD)
    dba = tls_server.address(SUPERUSER, database)
    code = main(["team", "init", dba, "--admin", admin, "--ca-file", str(tls_server.trust_ca)])
    assert code == EXIT_OK, capsys.readouterr().err
    capsys.readouterr()
    monkeypatch.delenv("FLSDESK_NEW_DB_PASSWORD")
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", ADMIN_PASSWORD)
    return tls_server, database, admin


def _users(address: str, ca: Path) -> int:
    return main(["--store", f"{address}&sslrootcert={ca}", "team", "users"])


def test_the_trusts_ca_lets_flsdesk_in_over_tls(team_on_tls, capsys):
    server, database, admin = team_on_tls
    assert _users(server.address(admin, database), server.trust_ca) == EXIT_OK
    assert capsys.readouterr().out.split() == [admin, "admin"]
    # The connection really was encrypted: the server says so for our session.
    import psycopg

    with psycopg.connect(
        host=HOST,
        hostaddr="127.0.0.1",
        port=server.cluster.port,
        dbname=database,
        user=admin,
        password=ADMIN_PASSWORD,
        sslmode="verify-full",
        sslrootcert=str(server.trust_ca),
    ) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row[0] is True


def test_a_certificate_the_ca_file_does_not_vouch_for_exits_3(team_on_tls, capsys):
    server, database, admin = team_on_tls
    assert _users(server.address(admin, database), server.other_ca) == EXIT_STORE
    out, err = capsys.readouterr()
    assert "certificate" in err
    assert ADMIN_PASSWORD not in out + err
    logs = resolve(None).log_dir
    for f in logs.rglob("*") if logs.is_dir() else []:
        assert ADMIN_PASSWORD.encode() not in f.read_bytes()


def test_a_certificate_for_another_host_exits_3(team_on_tls, capsys):
    server, database, admin = team_on_tls
    # Same server, same CA, but reached as another name: the certificate does not name it.
    address = server.address(admin, database, host="fls-db-other.test")
    assert _users(address, server.trust_ca) == EXIT_STORE
    assert "certificate" in capsys.readouterr().err
