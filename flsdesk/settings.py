"""The service's settings: what each is for, its type and default, and how it is checked.

Values are kept in the encrypted store (the upload token is a secret and must never sit in a
plain file), so this module only describes them; the settings dialog is built from this list.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    help: str
    kind: str  # "text", "int", "bool", "url", "secret", "choice", "proxy", "file"
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "service_name",
        "Service (FLS) name",
        "Shown in the window title and on printed worklists.",
        "text",
        "",
    ),
    Setting(
        "org_code",
        "Organisation code",
        "Your trust or site's ODS code, as registered with the FLS-DB.",
        "text",
        "",
    ),
    Setting(
        "idle_lock_minutes",
        "Lock after idle (minutes)",
        "After this many minutes without keyboard or mouse use the window hides its content "
        "and asks for the passphrase again.",
        "int",
        10,
        minimum=1,
        maximum=240,
    ),
    Setting(
        "annual_caseload",
        "Estimated annual caseload",
        "The FLS-DB's estimate for your service (NHFD hip fractures × 5); used by the "
        "'cases identified' KPI.",
        "int",
        0,
        minimum=0,
        maximum=100_000,
    ),
    Setting(
        "export_profile",
        "Export profile",
        "Which export profile file describes the FLS-DB import CSV (see `flsdesk definitions`).",
        "text",
        "flsdb-webtool",
    ),
    Setting(
        "upload_url",
        "Upload address",
        "An HTTPS address that accepts the exported file (your trust's integration service). "
        "Leave empty to upload through the FLS-DB webtool's Import Data page yourself.",
        "url",
        "",
    ),
    Setting(
        "upload_token",
        "Upload token",
        "The access token for the upload address. Kept only inside the encrypted store.",
        "secret",
        "",
    ),
    Setting(
        "upload_proxy",
        "Upload proxy",
        "Only if your trust's network needs one to reach the upload address: the proxy's address, "
        "such as http://proxy.example.nhs.uk:8080. The computer's own proxy settings "
        "(HTTP_PROXY and the like) are never used for uploads, and uploads to this computer never "
        "go through a proxy.",
        "proxy",
        "",
    ),
    Setting(
        "upload_ca_file",
        "Upload certificate file",
        "Only if your IT team gives you one: the certificate authority file (PEM) that the "
        "upload address's certificate must be signed by, used instead of the computer's trusted "
        "certificates. Certificate settings from the environment (REQUESTS_CA_BUNDLE) are never "
        "used.",
        "file",
        "",
    ),
    Setting(
        "require_optout_check",
        "Require the opt-out check before export",
        "Hold back records whose National Data Opt-out status has not been checked "
        "(otherwise they are exported with a warning). On for new stores: the FLS-DB has no "
        "exemption from the opt-out (FAQ 5).",
        "bool",
        False,
    ),
    Setting(
        "webtool_url",
        "FLS-DB webtool address",
        "Opened by 'Open the FLS-DB import page' after an export.",
        "url",
        "https://www.fffap.org.uk/",
    ),
)

BY_KEY = {s.key: s for s in SETTINGS}


def is_this_computer(host: str | None) -> bool:
    """localhost, 127.0.0.0/8 or ::1: a connection that never leaves the computer."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_value(key: str, value: Any) -> tuple[Any, str | None]:
    """Normalise a setting's value; returns (value, problem) — problem None when fine."""
    setting = BY_KEY.get(key)
    if setting is None:
        return value, f"unknown setting '{key}'"
    if setting.kind == "int":
        try:
            number = int(str(value).strip())
        except ValueError:
            return value, f"{setting.label} must be a whole number"
        if setting.minimum is not None and number < setting.minimum:
            return number, f"{setting.label} must be at least {setting.minimum}"
        if setting.maximum is not None and number > setting.maximum:
            return number, f"{setting.label} must be at most {setting.maximum}"
        return number, None
    if setting.kind == "bool":
        if isinstance(value, bool):
            return value, None
        return str(value).strip().lower() in ("1", "true", "yes", "on"), None
    text = "" if value is None else str(value).strip()
    if setting.kind == "proxy" and text:
        try:
            parsed = urlparse(text)
            _ = parsed.port  # a port that is not a number raises here
        except ValueError:
            return text, f"{setting.label} must be an address such as http://proxy:8080"
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return text, f"{setting.label} must be an address such as http://proxy:8080"
    if setting.kind == "file" and text and not Path(text).expanduser().is_file():
        return text, f"{setting.label}: there is no file {text}"
    if setting.kind == "url" and text:
        parsed = urlparse(text)
        local = is_this_computer(parsed.hostname)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            return text, f"{setting.label} must be a web address such as https://…"
        if parsed.scheme == "http" and not local:
            return text, f"{setting.label} must use https:// (plain http only to this computer)"
    return text, None


# --------------------------------------------------------------------------- this computer's

# Settings of this computer rather than of the service: which store it uses and how it reaches
# it. They cannot live in the store (they say where the store is), so they are kept in a small
# file in the user's config folder; none is a secret (the team database's password is never
# written here: the OS keyring holds it when "remember" is ticked).
PC_SETTINGS_FILE = "this-computer.json"

PC_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "store_address",
        "Team database address",
        "Empty: this computer keeps its own encrypted store. For a team: the address of the "
        "service's PostgreSQL database, such as postgresql://jsmith@db.trust.nhs.uk/fls "
        "(your own user name; the password is asked when you unlock).",
        "store_address",
        "",
    ),
    Setting(
        "team_ca_file",
        "Team database certificate file",
        "The certificate authority file (PEM) from your IT team: the team database's "
        "certificate must be signed by it. Not needed when the database is on this computer.",
        "file",
        "",
    ),
    Setting(
        "remember_db_password",
        "Remember the database password on this computer",
        "Kept in the computer's secure keyring, never in a file; otherwise it is asked at "
        "every unlock.",
        "bool",
        False,
    ),
)

PC_BY_KEY = {s.key: s for s in PC_SETTINGS}


def read_pc_settings(config_dir: Path) -> dict[str, Any]:
    """This computer's settings, defaults filled in; an unreadable file counts as empty (the
    local store is then used, and the window's Settings can write a good one)."""
    import json
    import logging

    values = {s.key: s.default for s in PC_SETTINGS}
    path = Path(config_dir) / PC_SETTINGS_FILE
    try:
        stored = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return values
    except (OSError, ValueError):
        logging.getLogger("flsdesk.settings").warning("%s is unreadable; ignored", path.name)
        return values
    if isinstance(stored, dict):
        values.update({k: v for k, v in stored.items() if k in PC_BY_KEY})
    return values


def write_pc_setting(config_dir: Path, key: str, value: Any) -> Any:
    """Check and keep one of this computer's settings; returns the value kept. ValueError (a
    sentence for the user) when the value is not acceptable; nothing is written then."""
    import json

    from flsdesk.files import write_text
    from flsdesk.paths import make_private_dir

    setting = PC_BY_KEY.get(key)
    if setting is None:
        raise ValueError(f"unknown setting '{key}'")
    if setting.kind == "store_address":
        clean, problem = _check_store_address(setting, value)
    else:
        clean, problem = _check_kind(setting, value)
    if problem:
        raise ValueError(problem)
    values = read_pc_settings(config_dir)
    values[key] = clean
    make_private_dir(Path(config_dir))
    write_text(Path(config_dir) / PC_SETTINGS_FILE, json.dumps(values, indent=2, sort_keys=True))
    return clean


def _check_kind(setting: Setting, value: Any) -> tuple[Any, str | None]:
    if setting.kind == "bool":
        if isinstance(value, bool):
            return value, None
        return str(value).strip().lower() in ("1", "true", "yes", "on"), None
    text = "" if value is None else str(value).strip()
    if setting.kind == "file" and text:
        text = str(Path(text).expanduser().resolve())
        if not Path(text).is_file():
            return text, f"{setting.label}: there is no file {text}"
    return text, None


def _check_store_address(setting: Setting, value: Any) -> tuple[Any, str | None]:
    """Only the shape: flsdesk.store.address parses it fully before it is used. A password in
    it is refused, so that it can never be written to this plain file."""
    text = "" if value is None else str(value).strip()
    if not text:
        return "", None
    try:
        parsed = urlparse(text)
        has_password = parsed.password is not None
    except ValueError:
        return text, f"{setting.label} is not a valid address"
    if parsed.scheme not in ("postgresql", "postgres"):
        return text, f"{setting.label} must start with postgresql://"
    if has_password:
        return "", (
            f"{setting.label} must not hold the password: it is asked at unlock, or kept in "
            "the keyring when you tick 'remember'"
        )
    return text, None
