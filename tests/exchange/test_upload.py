"""Upload against a real local HTTP(S) server (pytest-httpserver): success, retries with the same
Idempotency-Key, refusals that are not retried, time-outs, Retry-After, and a self-signed
certificate refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.exchange import upload as up
from flsdesk.exchange.profiles import load_upload_profile
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import add_golden

TOKEN = "s3cret-token"


@pytest.fixture
def exported(store: Store, tmp_path: Path) -> tuple[Store, Path, str]:
    add_golden(store)
    out = tmp_path / "out"
    out.mkdir()
    result = ex.write(store, ex.prepare(store, ex.Scope.all()), out / "export.csv")
    store.set_setting("upload_token", TOKEN)
    assert result.batch_id and result.path
    return store, result.path, result.batch_id


@pytest.fixture
def profile():
    return replace(
        load_upload_profile(),
        max_attempts=3,
        backoff_initial=0.5,
        connect_timeout=2.0,
        read_timeout=2.0,
    )


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _upload(store: Store, path: Path, profile, sleeps: Sleeps | None = None) -> up.UploadResult:
    return up.upload_file(store, path, profile, sleep=sleeps if sleeps is not None else Sleeps())


def test_success(exported, profile, httpserver: HTTPServer) -> None:
    store, path, batch_id = exported
    store.set_setting("upload_url", httpserver.url_for("/fls/upload"))
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response('{"receipt": "RCPT-42"}', status=201, content_type="application/json")

    httpserver.expect_request("/fls/upload", method="POST").respond_with_handler(handler)
    result = _upload(store, path, profile)
    assert result.sent and result.receipt == "RCPT-42" and result.attempts == 1
    [request] = seen
    assert request.headers["Idempotency-Key"] == batch_id
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.files["file"].read() == path.read_bytes()
    assert request.form["batch_id"] == batch_id and request.form["records"] == "5"
    batch = batches.get_batch(store, batch_id)
    assert batch is not None and batch.state == batches.SENT and batch.receipt == "RCPT-42"
    # Sent is sent: uploading the same file again sends nothing.
    with pytest.raises(up.UploadError, match="already sent"):
        _upload(store, path, profile)
    assert len(seen) == 1


def test_500_then_success_is_retried_with_the_same_key(exported, profile, httpserver) -> None:
    store, path, batch_id = exported
    store.set_setting("upload_url", httpserver.url_for("/up"))
    keys: list[str] = []

    def fail(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        return Response("database on fire", status=500)

    def ok(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        return Response("accepted as 77", status=200)

    httpserver.expect_ordered_request("/up").respond_with_handler(fail)
    httpserver.expect_ordered_request("/up").respond_with_handler(ok)
    sleeps = Sleeps()
    result = _upload(store, path, profile, sleeps)
    assert result.sent and result.attempts == 2 and result.receipt == "accepted as 77"
    assert keys == [batch_id, batch_id]
    assert sleeps == [0.5]


def test_401_is_not_retried_and_says_why(exported, profile, httpserver) -> None:
    store, path, batch_id = exported
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_request("/up").respond_with_json({"error": "token expired"}, status=401)
    sleeps = Sleeps()
    result = _upload(store, path, profile, sleeps)
    assert not result.sent and result.attempts == 1 and result.status_code == 401
    assert "401" in result.reason and "token" in result.reason and "token expired" in result.reason
    assert sleeps == [] and len(httpserver.log) == 1
    batch = batches.get_batch(store, batch_id)
    assert batch.state == batches.FAILED and "token expired" in batch.failure
    assert TOKEN not in batch.failure


def test_timeout_is_retried_then_fails(exported, profile, httpserver) -> None:
    store, path, batch_id = exported
    store.set_setting("upload_url", httpserver.url_for("/slow"))

    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("too late", status=200)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    profile = replace(profile, read_timeout=0.2, max_attempts=2)
    sleeps = Sleeps()
    result = _upload(store, path, profile, sleeps)
    assert not result.sent and result.attempts == 2 and "in time" in result.reason
    assert sleeps == [0.5]
    assert batches.get_batch(store, batch_id).state == batches.FAILED
    # Let the server finish the requests the client gave up on, so they do not spill into the
    # next test (the server is shared by the session and answers one request at a time).
    deadline = time.monotonic() + 10
    while len(httpserver.log) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)


def test_429_honours_retry_after_capped(exported, profile, httpserver) -> None:
    store, path, _ = exported
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_ordered_request("/up").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "7"})
    )
    httpserver.expect_ordered_request("/up").respond_with_response(
        Response("slow down more", status=429, headers={"Retry-After": "3600"})
    )
    httpserver.expect_ordered_request("/up").respond_with_json({"id": "ok-3"})
    sleeps = Sleeps()
    result = _upload(store, path, replace(profile, retry_after_max=30.0), sleeps)
    assert result.sent and result.attempts == 3 and result.receipt == "ok-3"
    assert sleeps == [7.0, 30.0]


def test_connection_refused_is_retried(exported, profile) -> None:
    store, path, _ = exported
    store.set_setting("upload_url", "http://127.0.0.1:9/nothing-listens-here")
    sleeps = Sleeps()
    result = _upload(store, path, profile, sleeps)
    assert not result.sent and result.attempts == 3 and "could not be reached" in result.reason
    assert sleeps == [0.5, 1.0]


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_self_signed_certificate_is_refused(exported, profile, tmp_path: Path) -> None:
    store, path, batch_id = exported
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=_self_signed(tmp_path))
    server.expect_request("/up").respond_with_data("should never be reached")
    server.start()
    try:
        url = server.url_for("/up")
        assert url.startswith("https://127.0.0.1:")
        store.set_setting("upload_url", url)
        sleeps = Sleeps()
        result = _upload(store, path, profile, sleeps)
    finally:
        server.clear()
        server.stop()
    assert not result.sent and result.attempts == 1 and sleeps == []
    assert "certificate" in result.reason
    assert server.log == []  # the TLS handshake failed: no request was ever made
    assert batches.get_batch(store, batch_id).state == batches.FAILED


def test_plain_http_refused_except_to_this_computer(exported, profile) -> None:
    store, path, _ = exported
    store.set_setting("upload_url", "http://fls.example.nhs.uk/upload")
    with pytest.raises(up.UploadError, match="plain http"):
        _upload(store, path, profile)
    store.set_setting("upload_url", "")
    with pytest.raises(up.UploadError, match="Settings"):
        _upload(store, path, profile)
    assert up.check_url("http://localhost:8080/x") == "http://localhost:8080/x"
    assert up.check_url("https://fls.example.nhs.uk/x")


def test_a_file_no_export_recorded_gets_a_fresh_recorded_id(
    exported, profile, httpserver, tmp_path: Path
) -> None:
    store, _path, batch_id = exported
    other = tmp_path / "made-elsewhere.csv"
    other.write_bytes(b"1.01 NHSNumber\r\nOVERSEAS\r\n")
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_request("/up").respond_with_data("thanks", status=202)
    result = _upload(store, other, profile)
    assert result.sent and result.batch_id != batch_id
    assert httpserver.log[0][0].headers["Idempotency-Key"] == result.batch_id
    recorded = batches.get_batch(store, result.batch_id)
    assert recorded is not None and recorded.scope == batches.EXTERNAL_SCOPE
    assert recorded.state == batches.SENT and recorded.file_sha256 == batches.file_sha256(other)
    # A file made elsewhere does not count as an export for the status bar.
    assert ex.days_since_last_export(store, store.today()) == 0


def test_retry_after_parsing() -> None:
    now = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
    assert up.retry_after_seconds("12") == 12.0
    assert up.retry_after_seconds("Mon, 02 Jun 2025 12:00:30 GMT", now) == 30.0
    assert up.retry_after_seconds("soon") is None and up.retry_after_seconds(None) is None
