"""The team database's address: reading it, showing it without its password, which store a run
uses, this computer's settings file, and the password's places (environment, keyring)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from flsdesk import settings as app_settings
from flsdesk.paths import resolve
from flsdesk.store import address as addr
from flsdesk.store.address import BadAddress, StoreAddress
from flsdesk.store.errors import KeyringUnavailable

SECRET = "s3cr3t-Pa55word"


@pytest.fixture(autouse=True)
def _no_team_environment(monkeypatch):
    monkeypatch.delenv(addr.STORE_ENV, raising=False)
    monkeypatch.delenv(addr.PASSWORD_ENV, raising=False)


@pytest.fixture
def paths(tmp_path):
    return resolve(tmp_path / "data")


def test_a_full_address_is_read_into_its_parts():
    a = StoreAddress.parse(
        f"postgresql://j.smith:{SECRET}@db.trust.nhs.uk:6432/fls_main?connect_timeout=5"
    )
    assert (a.host, a.port, a.database, a.user) == ("db.trust.nhs.uk", 6432, "fls_main", "j.smith")
    assert a.password == SECRET
    assert a.option("connect_timeout") == "5"
    assert not a.is_this_computer


def test_percent_escapes_and_the_postgres_scheme_are_understood():
    a = StoreAddress.parse("postgres://ann%40trust:p%3Aw%2Fd@[::1]/fls")
    assert (a.user, a.password, a.host, a.port) == ("ann@trust", "p:w/d", "::1", None)
    assert a.display == "postgresql://ann%40trust@[::1]/fls"
    assert StoreAddress.parse(a.display) == a.without_password()


def test_the_password_never_shows_in_the_display_str_or_repr():
    a = StoreAddress.parse(f"postgresql://jsmith:{SECRET}@db.example/fls?sslmode=verify-full")
    assert a.display == "postgresql://jsmith@db.example/fls?sslmode=verify-full"
    for shown in (a.display, str(a), repr(a), f"{a}"):
        assert SECRET not in shown
    url = a.sqlalchemy_url(SECRET)
    assert url.password == SECRET
    assert url.drivername == "postgresql+psycopg"
    assert SECRET not in str(url) and SECRET not in repr(url)
    # The TLS options are the engine's to set (flsdesk.store.pg), never taken from the URL.
    assert "sslmode" not in url.query


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("mysql://u@h/db", "starts with postgresql://"),
        ("db.trust.nhs.uk/fls", "starts with postgresql://"),
        ("postgresql://u@host", "must name the database"),
        ("postgresql://u@host/", "must name the database"),
        (f"postgresql://u:{SECRET}@host:99999/db", "port"),
        (f"postgresql://u:{SECRET}@host:abc/db", "port"),
        ("postgresql://u@host/db?sslmod=require", "option flsdesk does not know: 'sslmod'"),
        ("postgresql://u@db.trust.nhs.uk/fls?sslmode=disable", "sslmode=disable is not allowed"),
        ("postgresql://u@db.trust.nhs.uk/fls?sslmode=require", "sslmode=verify-full"),
    ],
)
def test_a_bad_address_is_refused_saying_what_is_wrong(text, words):
    with pytest.raises(BadAddress) as caught:
        StoreAddress.parse(text)
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_weaker_tls_mode_is_allowed_only_on_this_computer():
    assert StoreAddress.parse("postgresql://u@localhost/fls?sslmode=disable").is_this_computer


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("postgresql://u@localhost/fls", True),
        ("postgresql://u@127.0.0.1:5433/fls", True),
        ("postgresql://u@[::1]/fls", True),
        ("postgresql:///fls", True),  # the local socket
        ("postgresql://u@/fls?host=/var/run/postgresql", True),
        ("postgresql://u@db.trust.nhs.uk/fls", False),
        ("postgresql://u@10.1.2.3/fls", False),
        ("postgresql://u@localhost.evil.example/fls", False),
        # libpq connects to hostaddr: a local name in front of a remote address is remote.
        ("postgresql://u@localhost/fls?hostaddr=10.1.2.3", False),
        ("postgresql://u@fls-db.test/fls?hostaddr=127.0.0.1", False),
        ("postgresql://u@localhost/fls?hostaddr=127.0.0.1", True),
    ],
)
def test_this_computer_means_loopback_or_a_local_socket(text, local):
    assert StoreAddress.parse(text).is_this_computer is local


# --------------------------------------------------------------------------- which store


def test_store_option_beats_environment_beats_setting(paths, monkeypatch):
    assert addr.chosen_address(paths) is None  # nothing chosen: the local store
    app_settings.write_pc_setting(paths.config_dir, "store_address", "postgresql://a@h1/fls")
    assert addr.chosen_address(paths).address.host == "h1"
    monkeypatch.setenv(addr.STORE_ENV, "postgresql://a@h2/fls")
    assert addr.chosen_address(paths).address.host == "h2"
    chosen = addr.chosen_address(paths, "postgresql://a@h3/fls")
    assert (chosen.address.host, chosen.source) == ("h3", "--store")


def test_a_bad_address_names_where_it_came_from(paths, monkeypatch):
    monkeypatch.setenv(addr.STORE_ENV, "postgresql://a@h2")
    with pytest.raises(BadAddress, match=r"^FLSDESK_STORE: .*must name the database"):
        addr.chosen_address(paths)


def test_the_ca_file_comes_from_the_address_or_the_setting(paths, tmp_path):
    ca = tmp_path / "trust-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    a = StoreAddress.parse("postgresql://a@db.example/fls")
    assert a.ca_file(paths) is None
    app_settings.write_pc_setting(paths.config_dir, "team_ca_file", str(ca))
    assert a.ca_file(paths) == str(ca)
    own = StoreAddress.parse("postgresql://a@db.example/fls?sslrootcert=/etc/own.pem")
    assert own.ca_file(paths) == "/etc/own.pem"


# --------------------------------------------------------------------------- this computer's file


def test_the_saved_address_never_holds_the_password(paths):
    saved = addr.save_address(paths, f"postgresql://jsmith:{SECRET}@db.example:5432/fls")
    file = paths.config_dir / app_settings.PC_SETTINGS_FILE
    written = file.read_text()
    assert SECRET not in written
    assert json.loads(written)["store_address"] == "postgresql://jsmith@db.example:5432/fls"
    assert saved.password == SECRET  # the caller may still sign in with it this once
    if os.name == "posix":
        assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_settings_refuse_an_address_with_a_password_and_keep_the_old_one(paths):
    app_settings.write_pc_setting(paths.config_dir, "store_address", "postgresql://a@h/fls")
    with pytest.raises(ValueError, match="must not hold the password"):
        app_settings.write_pc_setting(
            paths.config_dir, "store_address", f"postgresql://a:{SECRET}@h/fls"
        )
    values = app_settings.read_pc_settings(paths.config_dir)
    assert values["store_address"] == "postgresql://a@h/fls"
    assert SECRET not in (paths.config_dir / app_settings.PC_SETTINGS_FILE).read_text()


def test_settings_refuse_a_missing_ca_file_and_a_foreign_address(paths, tmp_path):
    with pytest.raises(ValueError, match="there is no file"):
        app_settings.write_pc_setting(paths.config_dir, "team_ca_file", str(tmp_path / "no.pem"))
    with pytest.raises(ValueError, match="must start with postgresql://"):
        app_settings.write_pc_setting(paths.config_dir, "store_address", "mysql://a@h/fls")
    assert not (paths.config_dir / app_settings.PC_SETTINGS_FILE).exists()


def test_an_unreadable_settings_file_means_the_defaults(paths):
    paths.config_dir.mkdir(parents=True)
    (paths.config_dir / app_settings.PC_SETTINGS_FILE).write_text("{ not json")
    values = app_settings.read_pc_settings(paths.config_dir)
    assert values == {s.key: s.default for s in app_settings.PC_SETTINGS}
    assert addr.chosen_address(paths) is None


# --------------------------------------------------------------------------- the password


def test_password_from_the_address_then_the_environment_then_the_keyring(
    memory_keyring, monkeypatch
):
    bare = StoreAddress.parse("postgresql://jsmith@db.example/fls")
    assert addr.password_without_asking(bare) is None
    addr.remember_password(bare, "from-keyring")
    assert memory_keyring.items == {(addr.KEYRING_SERVICE, bare.identity): "from-keyring"}
    assert bare.identity == "postgresql://jsmith@db.example/fls"
    assert addr.password_without_asking(bare) == "from-keyring"
    monkeypatch.setenv(addr.PASSWORD_ENV, "from-env")
    assert addr.password_without_asking(bare) == "from-env"
    with_pw = StoreAddress.parse("postgresql://jsmith:in-address@db.example/fls")
    assert addr.password_without_asking(with_pw) == "in-address"
    # Remembered under the address without its password or options: the same entry either way.
    assert addr.remembered_password(with_pw) == "from-keyring"
    assert addr.remembered_password(bare.with_option("connect_timeout", "5")) == "from-keyring"
    addr.forget_password(bare)
    assert memory_keyring.items == {}
    addr.forget_password(bare)  # nothing left to forget: no error


def test_without_a_secure_keyring_nothing_is_remembered_and_the_reason_is_said():
    a = StoreAddress.parse("postgresql://jsmith@db.example/fls")
    with pytest.raises(KeyringUnavailable, match="cannot be remembered on this computer"):
        addr.remember_password(a, SECRET)
    assert addr.remembered_password(a) is None
