"""``flsdesk team …`` and ``--store`` through the real command line, on the session's real
PostgreSQL cluster: set-up, people, rights as the server enforces them, and the failures that
must end in exit 3 with a clear message and no password anywhere."""

from __future__ import annotations

import json

import pytest

from flsdesk.cli import EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import migrations, team
from flsdesk.store.roles import Role
from tests.helpers.pg import SUPERUSER
from tests.helpers.team_db import (
    ADMIN_PASSWORD,
    ENTRY_PASSWORD,
    REVIEW_PASSWORD,
    TeamDb,
    team_db_fixture,  # noqa: F401  (fixture)
)

NEW_PASSWORD = "Brand-New-Pa55word"
PASSWORDS = (ADMIN_PASSWORD, ENTRY_PASSWORD, REVIEW_PASSWORD, NEW_PASSWORD)


@pytest.fixture(autouse=True)
def _no_team_environment(monkeypatch):
    for name in ("FLSDESK_STORE", "FLSDESK_DB_PASSWORD", "FLSDESK_NEW_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def paths() -> AppPaths:
    return resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py


def _as(monkeypatch, t: TeamDb, user: str) -> list[str]:
    """The global option and password for a command run by ``user``."""
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", t.password(user))
    return ["--store", t.address(user)]


def _no_password_anywhere(paths: AppPaths, *texts: str, extra: tuple[str, ...] = ()) -> None:
    secrets = (*PASSWORDS, *extra)
    for shown in texts:
        for secret in secrets:
            assert secret not in shown
    for folder in (paths.log_dir, paths.config_dir, paths.data_dir):
        if folder.is_dir():
            for f in folder.rglob("*"):
                if f.is_file():
                    content = f.read_bytes()
                    for secret in secrets:
                        assert secret.encode() not in content, f


# --------------------------------------------------------------------------- init and people


def test_init_sets_up_an_empty_database_and_its_first_admin(
    pg_database, paths, monkeypatch, capsys
):
    admin = f"adm_{pg_database.name[-12:]}"
    cluster = pg_database.cluster
    dba = f"postgresql://{SUPERUSER}@127.0.0.1:{cluster.port}/{pg_database.name}"
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", cluster.password)
    monkeypatch.setenv("FLSDESK_NEW_DB_PASSWORD", ADMIN_PASSWORD)
    code = main(["team", "init", dba, "--admin", admin, "--site", "North FLS"])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert f"The first admin is {admin}" in out
    try:
        # The admin signs in and sees the service; nothing else is there yet.
        store_address = f"postgresql://{admin}@127.0.0.1:{cluster.port}/{pg_database.name}"
        monkeypatch.setenv("FLSDESK_DB_PASSWORD", ADMIN_PASSWORD)
        assert main(["--store", store_address, "team", "users"]) == EXIT_OK
        out, err = capsys.readouterr()
        assert out.split() == [admin, "admin"]
        # Run twice: refused, nothing changed.
        monkeypatch.setenv("FLSDESK_DB_PASSWORD", cluster.password)
        assert main(["team", "init", dba, "--admin", f"{admin}2"]) == EXIT_STORE
        _, err = capsys.readouterr()
        assert "already a team store" in err
        _no_password_anywhere(paths, out, err, extra=(cluster.password,))
    finally:
        cluster.sql(f'DROP ROLE IF EXISTS "{admin}"')


def test_an_admin_adds_and_removes_people(team_db: TeamDb, paths, monkeypatch, capsys):
    name = f"nurse_{team_db.name[-8:]}"
    store = _as(monkeypatch, team_db, team_db.admin)
    monkeypatch.setenv("FLSDESK_NEW_DB_PASSWORD", NEW_PASSWORD)
    try:
        assert main([*store, "team", "add-user", name, "--role", "entry"]) == EXIT_OK
        out, err = capsys.readouterr()
        assert f"Added {name}" in out and "entry role" in out
        assert main([*store, "team", "users"]) == EXIT_OK
        listed = dict(line.split()[:2] for line in capsys.readouterr().out.splitlines())
        assert listed[name] == "entry" and listed[team_db.review] == "review"
        # The new person signs in with their password and reads the (empty) worklist.
        monkeypatch.setenv("FLSDESK_DB_PASSWORD", NEW_PASSWORD)
        as_nurse = ["--store", team_db.address(name)]
        assert main([*as_nurse, "outbox"]) == EXIT_OK
        capsys.readouterr()
        # Adding the same name again: the server's own words, exit 2, nothing changed.
        monkeypatch.setenv("FLSDESK_DB_PASSWORD", ADMIN_PASSWORD)
        assert main([*store, "team", "add-user", name, "--role", "admin"]) == EXIT_USAGE
        assert "already exists" in capsys.readouterr().err
        assert main([*store, "team", "remove-user", name]) == EXIT_OK
        assert "can no longer sign in" in capsys.readouterr().out
        # Removed: their sign-in is refused, exit 3.
        monkeypatch.setenv("FLSDESK_DB_PASSWORD", NEW_PASSWORD)
        assert main([*as_nurse, "outbox"]) == EXIT_STORE
        out, err = capsys.readouterr()
        assert "refused the sign-in" in err
        _no_password_anywhere(paths, out, err)
    finally:
        team_db.db.cluster.sql(f'DROP ROLE IF EXISTS "{name}"')


def test_people_are_managed_by_admins_only(team_db: TeamDb, monkeypatch, capsys):
    store = _as(monkeypatch, team_db, team_db.entry)
    monkeypatch.setenv("FLSDESK_NEW_DB_PASSWORD", NEW_PASSWORD)
    assert main([*store, "team", "add-user", "sneaky", "--role", "admin"]) == EXIT_STORE
    assert "needs the admin role" in capsys.readouterr().err
    assert main([*store, "team", "remove-user", team_db.review]) == EXIT_STORE
    assert "needs the admin role" in capsys.readouterr().err
    with team_db.superuser_engine().connect() as conn:
        assert {p.name: p.role for p in team.list_users(conn, team_db.name)} == {
            team_db.admin: Role.ADMIN,
            team_db.entry: Role.ENTRY,
            team_db.review: Role.REVIEW,
        }


def test_team_commands_need_a_chosen_database(paths, capsys):
    assert main(["team", "users"]) == EXIT_USAGE
    assert "No team database is chosen" in capsys.readouterr().err


def test_a_bad_store_address_is_a_usage_error_naming_its_source(monkeypatch, capsys):
    monkeypatch.setenv("FLSDESK_STORE", "postgresql://someone:Secret-In-Env-1@host")
    assert main(["outbox"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "FLSDESK_STORE" in err and "must name the database" in err
    assert "Secret-In-Env-1" not in err


# --------------------------------------------------------------------------- rights via the CLI


def test_a_review_user_cannot_write_and_entry_cannot_export(
    team_db: TeamDb, paths, tmp_path, monkeypatch, capsys
):
    from tests.helpers.import_helpers import base_row, write_csv

    csv = write_csv(tmp_path, [base_row()])
    store = _as(monkeypatch, team_db, team_db.review)
    assert main([*store, "import", str(csv)]) == EXIT_STORE
    out, err = capsys.readouterr()
    assert "needs the entry or admin role" in err and "review role" in err
    assert out == ""  # refused before the report, not after it
    store = _as(monkeypatch, team_db, team_db.entry)
    out_file = tmp_path / "export.csv"
    assert main([*store, "export", "--all", "--out", str(out_file)]) == EXIT_STORE
    _, err = capsys.readouterr()
    assert "admin" in err
    assert not out_file.exists()
    with team_db.superuser_engine().connect() as conn:
        from sqlalchemy import text

        assert conn.scalar(text("SELECT count(*) FROM records")) == 0
        assert conn.scalar(text("SELECT count(*) FROM export_batches")) == 0


# --------------------------------------------------------------------------- failures: exit 3


def test_a_wrong_password_exits_3_without_the_password_anywhere(
    team_db: TeamDb, paths, monkeypatch, capsys
):
    wrong = "Wrong-Pa55word-Typed"
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", wrong)
    assert main(["--store", team_db.address(team_db.entry), "outbox"]) == EXIT_STORE
    out, err = capsys.readouterr()
    assert "refused the sign-in" in err
    assert team_db.address(team_db.entry) in err  # the address, shown without a password
    _no_password_anywhere(paths, out, err, extra=(wrong,))


def test_a_password_inside_the_address_is_never_shown(team_db: TeamDb, paths, capsys):
    wrong = "In-The-Address-Pa55"
    address = team_db.address(team_db.entry).replace("@", f":{wrong}@")
    assert main(["--store", address, "outbox"]) == EXIT_STORE
    out, err = capsys.readouterr()
    assert "refused the sign-in" in err
    _no_password_anywhere(paths, out, err, extra=(wrong,))


def test_an_unknown_host_exits_3(paths, monkeypatch, capsys):
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", "Some-Pa55word-Here")
    ca = paths.config_dir / "ca.pem"
    ca.parent.mkdir(parents=True, exist_ok=True)
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    address = f"postgresql://nurse@no-such-host.invalid/fls?sslrootcert={ca}"
    assert main(["--store", address, "outbox"]) == EXIT_STORE
    out, err = capsys.readouterr()
    assert "cannot be reached" in err
    _no_password_anywhere(paths, out, err, extra=("Some-Pa55word-Here",))


def test_a_remote_database_without_a_ca_file_exits_3_before_connecting(paths, capsys):
    assert main(["--store", "postgresql://nurse@db.trust.example/fls", "followups"]) == EXIT_STORE
    assert "CA" in capsys.readouterr().err


def test_a_newer_schema_exits_3_and_changes_nothing(team_db: TeamDb, paths, monkeypatch, capsys):
    newer = migrations.CURRENT_SCHEMA + 1
    team_db.db.cluster.sql(
        f"UPDATE meta SET value = '{newer}' WHERE key = 'schema_version'", team_db.name
    )
    store = _as(monkeypatch, team_db, team_db.admin)
    assert main([*store, "outbox"]) == EXIT_STORE
    err = capsys.readouterr().err
    assert "newer version of flsdesk" in err
    with team_db.superuser_engine().connect() as conn:
        from sqlalchemy import text

        value = conn.scalar(text("SELECT value FROM meta WHERE key = 'schema_version'"))
        assert int(value) == newer


# --------------------------------------------------------------------------- this computer


def test_join_keeps_the_address_without_the_password_and_leave_goes_back(
    team_db: TeamDb, paths, tmp_path, monkeypatch, capsys, memory_keyring
):
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", ENTRY_PASSWORD)
    address = team_db.address(team_db.entry)
    ca = tmp_path / "trust-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    # A wrong password first: refused, and nothing about this computer changes.
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", "Wrong-Pa55word-1")
    assert main(["team", "join", address, "--remember", "--ca-file", str(ca)]) == EXIT_STORE
    capsys.readouterr()
    assert not (paths.config_dir / "this-computer.json").exists()
    assert memory_keyring.items == {}
    monkeypatch.setenv("FLSDESK_DB_PASSWORD", ENTRY_PASSWORD)
    assert main(["team", "join", address, "--remember", "--ca-file", str(ca)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert f"signed in as {team_db.entry}, entry role" in out
    assert "remembered" in out
    assert list(memory_keyring.items.values()) == [ENTRY_PASSWORD]
    # From now on every command uses it, the password coming from the keyring.
    monkeypatch.delenv("FLSDESK_DB_PASSWORD")
    assert main(["outbox"]) == EXIT_OK
    capsys.readouterr()
    # The settings file holds the address, not the password (checked with the logs too).
    settings_file = paths.config_dir / "this-computer.json"
    kept = json.loads(settings_file.read_text())
    assert kept["store_address"] == address  # without the CA option, which has its own
    assert kept["team_ca_file"] == str(ca.resolve())
    assert kept["remember_db_password"] is True
    _no_password_anywhere(paths, out, err)
    assert main(["team", "leave"]) == EXIT_OK
    capsys.readouterr()
    assert memory_keyring.items == {}
    # Back to the local store, of which there is none here.
    assert main(["outbox"]) == EXIT_STORE
    assert "flsdesk init" in capsys.readouterr().err


# --------------------------------------------------------------------------- passwords


def test_anyone_changes_their_own_password(team_db: TeamDb, paths, monkeypatch, capsys):
    import psycopg

    store = _as(monkeypatch, team_db, team_db.review)
    monkeypatch.setenv("FLSDESK_NEW_DB_PASSWORD", NEW_PASSWORD)
    assert main([*store, "team", "passwd"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert f"The password of {team_db.review}" in out
    _no_password_anywhere(paths, out, err)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(team_db.url(team_db.review))
    with psycopg.connect(team_db.db.url(team_db.review, NEW_PASSWORD)) as conn:
        assert conn.execute("SELECT session_user").fetchone()[0] == team_db.review
    # The local store's passphrase command points there instead of changing anything.
    assert main([*store, "passwd"]) == EXIT_USAGE
    assert "team passwd" in capsys.readouterr().err


def test_the_terminal_asks_again_after_a_refused_password(team_db: TeamDb, paths, capsys):
    from flsdesk import session
    from flsdesk.cli import prompts
    from flsdesk.store.address import StoreAddress
    from flsdesk.store.errors import SignInRefused

    where = StoreAddress.parse(team_db.address(team_db.entry))
    typed = iter(["Typo-Pa55word-1", ENTRY_PASSWORD])
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return next(typed)

    store = prompts.with_team_password(
        where, lambda pw: session.open_team(paths, where, pw), prompt=prompt, interactive=True
    )
    with store:
        assert store.user == team_db.entry
    assert asked == [f"Password of {where.display}: "] * 2
    assert "Try again" in capsys.readouterr().err
    # Three wrong ones: refused for good. Without a terminal: said how to give it.
    with pytest.raises(SignInRefused):
        prompts.with_team_password(
            where,
            lambda pw: session.open_team(paths, where, pw),
            prompt=lambda q: "Wrong-Every-Time-1",
            interactive=True,
        )
    with pytest.raises(SignInRefused, match="FLSDESK_DB_PASSWORD"):
        prompts.with_team_password(
            where, lambda pw: session.open_team(paths, where, pw), interactive=False
        )
