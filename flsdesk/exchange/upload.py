"""Uploading an exported file to the HTTPS address the service set — only when the user asks.

Generic and provisional (there is no public FLS-DB upload interface): the upload profile says
the method, the file field, the auth header and the success codes. Fixed here, whatever the
profile says: plain http is refused except to this computer; certificates are always checked,
against the computer's trusted certificates or the CA file set in Settings, never one named by the
environment (REQUESTS_CA_BUNDLE); a proxy is used only when Settings names one, never from the
environment (HTTP_PROXY…) and never to this computer; text from the server is shown with control
characters removed and its length capped; the token comes only from the encrypted store; the
batch id travels as the idempotency key so a retried request is not applied twice; retries
(with exponential backoff) only after connection errors, time-outs, 5xx and 429 (honouring
Retry-After, capped), never after another 4xx; and the batch is "sent" only on one of the
profile's 2xx success codes.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from flsdesk.exchange import batches
from flsdesk.exchange.profiles import UploadProfile, load_upload_profile
from flsdesk.settings import is_this_computer
from flsdesk.store.roles import Role
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

URL_SETTING = "upload_url"
TOKEN_SETTING = "upload_token"
PROXY_SETTING = "upload_proxy"
CA_FILE_SETTING = "upload_ca_file"
HOW_TO_SET_ADDRESS = (
    "No upload address is set. To upload from flsdesk, put your integration service's HTTPS "
    "address (and its token) in Settings → Upload address. Without one, open the FLS-DB webtool's "
    "Import Data page and choose the exported file there."
)


class UploadError(Exception):
    """The upload cannot start (no address, plain http, no file). A sentence for the user."""


class UploadCancelled(UploadError):
    pass


@dataclass(frozen=True)
class UploadResult:
    batch_id: str
    sent: bool
    status_code: int | None  # the last response's code, None when no response came
    receipt: str | None  # the server's receipt, when sent
    reason: str | None  # why it failed, when not sent
    attempts: int

    @property
    def message(self) -> str:
        if self.sent:
            return f"Sent (batch {self.batch_id}). The server's receipt: {self.receipt or '-'}"
        return f"Not sent (batch {self.batch_id}): {self.reason}"


def check_url(url: str) -> str:
    """The address to use, or UploadError: https only, plain http only to this computer."""
    text = (url or "").strip()
    if not text:
        raise UploadError(HOW_TO_SET_ADDRESS)
    parsed = urlparse(text)
    if parsed.scheme == "https" and parsed.hostname:
        return text
    if parsed.scheme == "http" and is_this_computer(parsed.hostname):
        return text
    if parsed.scheme == "http":
        raise UploadError(
            "The upload address uses plain http, which would send patient data unencrypted. "
            "Use an https:// address (plain http is allowed only to this computer)."
        )
    raise UploadError("The upload address must be a web address starting with https://.")


# Terminal escape sequences (CSI, OSC, and the two-byte ones): removed whole, not just the ESC.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
)


def clean_server_text(text: str, limit: int) -> str:
    """Text from the server as it may be shown: no control or format characters (terminal
    escapes, CR, bidi overrides, zero-width characters), one line, at most ``limit`` characters.

    The server is not ours to trust: its words end up on the terminal, in the window and in the
    outbox, where an escape sequence or a right-to-left override could disguise what is shown.
    """
    kept: list[str] = []
    for ch in _ESCAPES.sub("", text):
        category = unicodedata.category(ch)
        if category in ("Zl", "Zp") or ch in "\t\n\r\x0b\x0c\x85":
            kept.append(" ")
        elif category[0] != "C":  # Cc, Cf, Cs, Co, Cn
            kept.append(ch)
    line = " ".join("".join(kept).split())
    limit = max(limit, 1)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _text_of(response: requests.Response, keys: tuple[str, ...], limit: int) -> str:
    """A JSON reply's first matching key, else the start of the reply's text; cleaned."""
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in keys:
            if data.get(key) not in (None, ""):
                value = data[key]
                text = value if isinstance(value, str) else json.dumps(value)
                cleaned = clean_server_text(text, limit)
                if cleaned:
                    return cleaned
    # Only the start is needed; a huge body is not cleaned character by character.
    text = clean_server_text((response.text or "")[: limit * 4 + 256], limit)
    return text or f"HTTP {response.status_code}"


def connection_settings(store: Store, url: str) -> tuple[dict[str, str], bool | str]:
    """The proxies and the certificate check for ``url``, from Settings only.

    A proxy only when Settings names one, and never for this computer; certificates are checked
    against the CA file in Settings, else the computer's trusted ones.
    """
    proxy = str(store.get_setting(PROXY_SETTING) or "").strip()
    proxies: dict[str, str] = {}
    if proxy and not is_this_computer(urlparse(url).hostname):
        proxies = {"http": proxy, "https": proxy}
    ca_file = str(store.get_setting(CA_FILE_SETTING) or "").strip()
    if not ca_file:
        return proxies, True
    ca_path = Path(ca_file).expanduser()
    if not ca_path.is_file():
        raise UploadError(
            f"The upload certificate file set in Settings ({ca_path}) does not exist, so nothing "
            "was sent. Correct it in Settings → Upload certificate file, or empty it."
        )
    return proxies, str(ca_path)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110). None when absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _describe_status(code: int, reason: str) -> str:
    if code in (401, 403):
        return (
            f"The server refused the upload (HTTP {code}: {reason}). Check the upload token in "
            "Settings; the file was not retried."
        )
    if code == 429:
        return f"The server is busy (HTTP 429: {reason}); tried again until out of attempts."
    if code >= 500:
        return (
            f"The server had an error (HTTP {code}: {reason}); tried again until out of attempts."
        )
    return f"The server did not accept the file (HTTP {code}: {reason}); it was not retried."


def upload_file(
    store: Store,
    path: Path,
    profile: UploadProfile | None = None,
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: Callable[[], bool] | None = None,
    on_attempt: Callable[[int, int], None] | None = None,
) -> UploadResult:
    """Upload one exported file; its batch's outbox state follows (uploading, sent, failed).

    A file that no export recorded gets a batch of its own (a fresh id, recorded). Raises
    UploadError before anything is sent when the address, the file or the profile is not usable.
    """
    store.require(Role.ADMIN, "uploading an export")
    path = Path(path).expanduser().absolute()
    url = check_url(str(store.get_setting(URL_SETTING) or ""))
    proxies, verify = connection_settings(store, url)
    profile = profile or load_upload_profile(None, store.paths)
    if not path.is_file():
        raise UploadError(f"There is no file {path} to upload.")
    sha = batches.file_sha256(path)
    batch = batches.find_by_sha256(store, sha) or batches.record_external(store, path, sha)
    if batch.state == batches.SENT:
        raise UploadError(
            f"This file was already sent (batch {batch.batch_id}, receipt: {batch.receipt or '-'})."
            " Nothing was sent again."
        )
    token = str(store.get_setting(TOKEN_SETTING) or "")
    headers = {profile.idempotency_header: batch.batch_id}
    if token:
        headers[profile.auth_header] = (
            f"{profile.auth_scheme} {token}" if profile.auth_scheme else token
        )
    placeholders = {
        "batch_id": batch.batch_id,
        "sha256": sha,
        "records": str(batch.record_count),
        "file_name": path.name,
    }
    form = {name: template.format(**placeholders) for name, template in profile.fields.items()}
    content = path.read_bytes()
    http = session or requests.Session()
    # The environment decides nothing: no HTTP_PROXY/ALL_PROXY (they would see the file and the
    # token), no REQUESTS_CA_BUNDLE (it would replace the trusted certificates), no .netrc.
    http.trust_env = False
    attempts = batch.attempts
    batches.set_state(store, batch.batch_id, batches.UPLOADING)
    log.info("upload of batch %s started", batch.batch_id)
    delay = profile.backoff_initial
    reason = "not attempted"
    code: int | None = None
    try:
        for attempt in range(1, profile.max_attempts + 1):
            if cancel is not None and cancel():
                raise UploadCancelled("The upload was cancelled.")
            if on_attempt is not None:
                on_attempt(attempt, profile.max_attempts)
            attempts += 1
            wait: float | None = delay
            try:
                response = http.request(
                    profile.method,
                    url,
                    headers=headers,
                    data=form,
                    files={profile.file_field: (path.name, content, profile.content_type)},
                    timeout=(profile.connect_timeout, profile.read_timeout),
                    verify=verify,  # never off: a bad certificate is an attack or a fault
                    proxies=proxies,
                    allow_redirects=False,  # a redirect could lead the file to plain http
                )
            except requests.exceptions.SSLError:
                reason = (
                    "The server's certificate could not be verified, so nothing was sent. Ask "
                    "your IT team to check the upload address and its certificate."
                )
                code = None
                break
            except requests.exceptions.Timeout:
                reason = "The server did not answer in time."
                code = None
            except requests.exceptions.ConnectionError:
                reason = "The server could not be reached (connection failed)."
                code = None
            else:
                code = response.status_code
                if code in profile.success_codes:
                    receipt = _text_of(response, profile.receipt_json_keys, profile.max_text)
                    batches.set_state(
                        store, batch.batch_id, batches.SENT, receipt=receipt, attempts=attempts
                    )
                    log.info("batch %s sent (HTTP %d, attempt %d)", batch.batch_id, code, attempt)
                    return UploadResult(batch.batch_id, True, code, receipt, None, attempts)
                server_reason = _text_of(response, profile.reason_json_keys, profile.max_text)
                reason = _describe_status(code, server_reason)
                if code != 429 and code < 500:
                    log.info("batch %s refused (HTTP %d); not retried", batch.batch_id, code)
                    break
                if code == 429:
                    asked = retry_after_seconds(response.headers.get("Retry-After"))
                    if asked is not None:
                        wait = asked
            log.info(
                "batch %s: attempt %d failed (%s)",
                batch.batch_id,
                attempt,
                f"HTTP {code}" if code else "no response",
            )
            if attempt < profile.max_attempts:
                sleep(min(wait if wait is not None else delay, profile.retry_after_max))
                delay = min(delay * profile.backoff_factor, profile.backoff_max)
    except UploadCancelled:
        batches.set_state(
            store, batch.batch_id, batches.FAILED, failure="Cancelled.", attempts=attempts
        )
        raise
    except BaseException:
        batches.set_state(
            store,
            batch.batch_id,
            batches.FAILED,
            failure="The upload stopped unexpectedly.",
            attempts=attempts,
        )
        raise
    batches.set_state(store, batch.batch_id, batches.FAILED, failure=reason, attempts=attempts)
    log.info("batch %s failed after %d attempt(s)", batch.batch_id, attempts)
    return UploadResult(batch.batch_id, False, code, None, reason, attempts)
