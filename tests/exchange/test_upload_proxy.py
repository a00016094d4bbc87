"""Issue 11.7: upload never leaves the rule. With HTTP_PROXY set, an upload to http://localhost
sent the whole file and the bearer token through the proxy in clear. Here a REAL proxy listener
(a socket server on 127.0.0.1 that records every byte it is sent) stands in the environment;
the upload goes to the real local server and the proxy hears nothing. A proxy named in Settings
is used; a CA bundle named by the environment never replaces the trusted certificates; text
from the server is shown without control characters."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flsdesk import settings
from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.exchange import upload as up
from flsdesk.exchange.profiles import load_upload_profile
from flsdesk.store.store import Store
from tests.exchange.test_upload import _self_signed
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    clock_fixture,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import add_golden

TOKEN = "s3cret-token"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


class RecordingProxy:
    """A listener on 127.0.0.1 that records what each connection sends, answers 502 and hangs
    up: were anything routed through it, the test would see every byte."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                self.received.append(data)
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    p = RecordingProxy()
    yield p
    p.stop()


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
        max_attempts=1,
        connect_timeout=5.0,
        read_timeout=5.0,
    )


def _no_sleep(_seconds: float) -> None:
    pass


def _environment_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_environment_proxy_is_not_used_for_this_computer(
    exported, profile, proxy: RecordingProxy, monkeypatch, host: str
) -> None:
    store, path, _ = exported
    _environment_proxy(monkeypatch, proxy.url)
    server = HTTPServer(host=host, port=0)
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response("thanks", status=201)

    server.expect_request("/up", method="POST").respond_with_handler(handler)
    server.start()
    try:
        url = server.url_for("/up")
        assert url.startswith(f"http://{host}:")
        store.set_setting("upload_url", url)
        result = up.upload_file(store, path, profile, sleep=_no_sleep)
    finally:
        server.clear()
        server.stop()
    assert result.sent, result.reason
    [request] = seen
    assert request.files["file"].read() == path.read_bytes()
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert proxy.received == []  # not one connection, so neither the file nor the token


def test_environment_proxy_is_not_used_for_other_addresses_either(
    exported, profile, proxy: RecordingProxy, monkeypatch
) -> None:
    store, path, _ = exported
    _environment_proxy(monkeypatch, proxy.url)
    # Nothing listens here (.invalid never resolves): the upload fails without the proxy.
    store.set_setting("upload_url", "https://fls-upload.invalid/up")
    result = up.upload_file(store, path, profile, sleep=_no_sleep)
    assert not result.sent and "could not be reached" in (result.reason or "")
    assert proxy.received == []


def test_a_proxy_set_in_settings_is_used(exported, profile, proxy: RecordingProxy) -> None:
    store, path, _ = exported
    store.set_setting("upload_proxy", proxy.url)
    store.set_setting("upload_url", "https://fls-upload.invalid/up")
    result = up.upload_file(store, path, profile, sleep=_no_sleep)
    assert not result.sent  # our proxy refuses everything
    [request] = proxy.received
    # HTTPS through a proxy is a tunnel: the proxy learns the host, never the file or token.
    assert request.startswith(b"CONNECT fls-upload.invalid:443 ")
    assert TOKEN.encode() not in request and b"1.01" not in request


def test_a_settings_proxy_is_not_used_for_this_computer(
    exported, profile, proxy: RecordingProxy, httpserver: HTTPServer
) -> None:
    store, path, _ = exported
    store.set_setting("upload_proxy", proxy.url)
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_request("/up").respond_with_data("ok", status=200)
    assert up.upload_file(store, path, profile, sleep=_no_sleep).sent
    assert proxy.received == []


def _https_server(tmp_path: Path) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=_self_signed(tmp_path))
    server.expect_request("/up").respond_with_data("RCPT-9", status=201)
    server.start()
    return server


def test_ca_bundle_from_the_environment_is_ignored(
    exported, profile, tmp_path: Path, monkeypatch
) -> None:
    store, path, _ = exported
    bogus = tmp_path / "bogus-ca.pem"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bogus))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bogus))
    server = _https_server(tmp_path)
    try:
        store.set_setting("upload_url", server.url_for("/up"))
        # The CA file named in Settings is what the certificate is checked against.
        store.set_setting("upload_ca_file", str(tmp_path / "cert.pem"))
        result = up.upload_file(store, path, profile, sleep=_no_sleep)
    finally:
        server.clear()
        server.stop()
    assert result.sent and result.receipt == "RCPT-9"


def test_ca_bundle_from_the_environment_does_not_add_trust(
    exported, profile, tmp_path: Path, monkeypatch
) -> None:
    store, path, batch_id = exported
    server = _https_server(tmp_path)
    # The environment names exactly the certificate the server uses: still not trusted.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "cert.pem"))
    try:
        store.set_setting("upload_url", server.url_for("/up"))
        result = up.upload_file(store, path, profile, sleep=_no_sleep)
    finally:
        server.clear()
        server.stop()
    assert not result.sent and "certificate" in (result.reason or "")
    assert server.log == []
    assert batches.get_batch(store, batch_id).state == batches.FAILED


def test_a_missing_ca_file_in_settings_stops_before_sending(exported, profile, tmp_path) -> None:
    store, path, batch_id = exported
    store.set_setting("upload_url", "https://fls-upload.invalid/up")
    store.set_setting("upload_ca_file", str(tmp_path / "gone.pem"))
    with pytest.raises(up.UploadError, match="certificate file"):
        up.upload_file(store, path, profile, sleep=_no_sleep)
    assert batches.get_batch(store, batch_id).state != batches.SENT


HOSTILE = (
    "\x1b[2J\x1b[31mAll records deleted\x1b[0m\r\x1b]0;title\x07 ok"
    "\u202egnp.exe\u202c\u200b\x00\x08 done\nnext line" + "A" * 5000
)


def test_server_text_is_shown_without_control_characters(
    exported, profile, httpserver: HTTPServer
) -> None:
    store, path, batch_id = exported
    store.set_setting("upload_url", httpserver.url_for("/up"))
    httpserver.expect_ordered_request("/up").respond_with_response(Response(HOSTILE, status=400))
    failed = up.upload_file(store, path, profile, sleep=_no_sleep)
    assert not failed.sent
    reason = failed.reason or ""
    assert "All records deleted" in reason and "gnp.exe" in reason and "next line" in reason
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in reason)
    assert "\u202e" not in reason and "\u200b" not in reason and "[31m" not in reason
    assert len(reason) < 2 * profile.max_text + 300  # capped, not 5,000 A's
    stored = batches.get_batch(store, batch_id)
    assert stored is not None and stored.failure == reason
    httpserver.expect_ordered_request("/up").respond_with_json({"receipt": HOSTILE}, status=201)
    sent = up.upload_file(store, path, profile, sleep=_no_sleep)
    receipt = sent.receipt or ""
    assert sent.sent and receipt.startswith("All records deleted")
    assert len(receipt) <= profile.max_text and receipt.endswith("…")
    assert not any(ord(c) < 32 or c in "\u202e\u202c\u200b" for c in receipt)


def test_clean_server_text() -> None:
    assert up.clean_server_text("a\x1b[1;31mb\x1b[0m\r\nc\u2028d", 100) == "ab c d"
    assert up.clean_server_text("\u2066x\u2069", 100) == "x"
    assert up.clean_server_text("abcdef", 4) == "abc…"
    assert up.clean_server_text("Zürich — ✓", 100) == "Zürich — ✓"


def test_settings_check_proxy_and_ca_file(tmp_path: Path) -> None:
    assert settings.check_value("upload_proxy", " http://proxy.example:8080 ") == (
        "http://proxy.example:8080",
        None,
    )
    for bad in ("proxy.example:8080", "ftp://proxy", "http://proxy:port"):
        assert settings.check_value("upload_proxy", bad)[1] is not None
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert settings.check_value("upload_ca_file", str(ca)) == (str(ca), None)
    assert "no file" in (settings.check_value("upload_ca_file", str(tmp_path / "no.pem"))[1] or "")
    assert settings.is_this_computer("127.8.9.10") and settings.is_this_computer("::1")
    assert not settings.is_this_computer("10.0.0.1") and not settings.is_this_computer(None)
