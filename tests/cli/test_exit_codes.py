"""Exit codes keep the contract (issue 11 point 8, spec/cli.md): odd files where the store's
files should be, doctored key files, a closed stdout, a mistyped --data-dir, the right words for
the wrong secret, and exit 4 for a real bug. Never 1, never "an unexpected error occurred",
never a traceback on stderr."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_INTERNAL, EXIT_OK, EXIT_STORE, EXIT_USAGE, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import keys
from flsdesk.store.errors import StoreError
from flsdesk.store.lock import StoreLock
from flsdesk.store.store import Store
from tests.helpers.conftest_records import complete_answers, nhs_number

REPO = Path(__file__).resolve().parents[2]
PASS = "correct horse battery"


@pytest.fixture
def paths() -> AppPaths:
    return resolve(None)  # the per-test FLSDESK_DATA_DIR from tests/conftest.py


def _init(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, site: str = "Test FLS") -> None:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", PASS)
    assert main(["--data-dir", str(data_dir), "init", "--site", site]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    capsys.readouterr()


@pytest.fixture
def store_dir(paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    _init(paths.data_dir, monkeypatch, capsys)
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    return paths.data_dir


def _clean(err: str) -> None:
    assert "Traceback" not in err, err
    assert "unexpected error" not in err, err
    assert "Logging error" not in err, err


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    _clean(err)
    return code, err


# --------------------------------------------------------------------------- folders in the way


def test_key_file_that_is_a_folder_is_exit_3(store_dir: Path, paths: AppPaths, capsys) -> None:
    paths.key_file.unlink()
    paths.key_file.mkdir()
    for argv in (["followups"], ["passwd"], ["backup", str(store_dir.parent / "b")]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "key file" in err and "is a folder" in err


def test_database_that_is_a_folder_is_exit_3(store_dir: Path, paths: AppPaths, capsys) -> None:
    for extra in ("", "-wal", "-shm"):
        Path(f"{paths.database}{extra}").unlink(missing_ok=True)
    paths.database.mkdir()
    for argv in (["followups"], ["passwd"]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "database" in err and "is a folder" in err
        assert "yet" not in err


def test_lock_file_that_is_a_folder_is_exit_3(
    store_dir: Path, paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    lock = store_dir / "flsdesk.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    before = paths.key_file.read_bytes()
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "a new passphrase")
    for argv in (["followups"], ["passwd"]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "lock file" in err and "is a folder" in err
    assert paths.key_file.read_bytes() == before


def test_lock_file_is_never_followed_through_a_symlink(
    store_dir: Path, paths: AppPaths, tmp_path: Path, capsys
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("someone's own file\n")
    lock = store_dir / "flsdesk.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    for argv in (["followups"], ["passwd"]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "symbolic link" in err
    with pytest.raises(StoreError, match="symbolic link"):
        StoreLock(store_dir).acquire()
    assert victim.read_text() == "someone's own file\n"  # never truncated, never written
    # A dangling link is refused too (O_CREAT would otherwise create its target).
    lock.unlink()
    lock.symlink_to(tmp_path / "not-there")
    code, err = _run(["followups"], capsys)
    assert code == EXIT_STORE and "symbolic link" in err
    assert not (tmp_path / "not-there").exists()


# --------------------------------------------------------------------------- doctored key files


def _doctor(key_file: Path, change) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(key_file.read_text())
    change(doc)
    key_file.write_text(json.dumps(doc))


def _kdf(field: str, value: object):  # type: ignore[no-untyped-def]
    def change(doc):  # type: ignore[no-untyped-def]
        doc["slots"]["passphrase"]["kdf"][field] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        _kdf("memory_cost", 1 << 40),
        _kdf("memory_cost", 10**5000 // 10**4990),  # a big int that is still an int
        _kdf("iterations", 10**9),
        _kdf("lanes", 10**6),
        _kdf("lanes", 0),
        _kdf("memory_cost", 65536.5),
        _kdf("iterations", True),
        _kdf("memory_cost", "131072"),
    ],
    ids=["memory", "memory-2", "time", "lanes", "no-lanes", "float", "bool", "text"],
)
def test_absurd_argon2_settings_refused_before_deriving(
    store_dir: Path, paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys, change
) -> None:
    _doctor(paths.key_file, change)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("Argon2 was run with doctored settings")

    monkeypatch.setattr(keys, "Argon2id", never)
    for argv in (["followups"], ["passwd"]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "key file is damaged" in err


def test_deeply_nested_or_huge_key_file_is_damaged(
    store_dir: Path, paths: AppPaths, capsys
) -> None:
    doc = json.loads(paths.key_file.read_text())
    nested = json.dumps(doc)[:-1] + ', "x": ' + "[" * 30_000 + "]" * 30_000 + "}"
    paths.key_file.write_text(nested)
    code, err = _run(["followups"], capsys)
    assert code == EXIT_STORE and "key file is damaged" in err, err

    paths.key_file.write_text(json.dumps(doc)[:-1] + ', "n": ' + "9" * 6000 + "}")
    code, err = _run(["followups"], capsys)
    assert code == EXIT_STORE and "key file is damaged" in err, err

    paths.key_file.write_text(json.dumps(doc) + " " * 10_000_000)
    code, err = _run(["followups"], capsys)
    assert code == EXIT_STORE and "key file" in err and "damaged" in err, err


# --------------------------------------------------------------------------- which secret is wrong


def test_wrong_passphrase_says_so(store_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", "not the passphrase")
    code, err = _run(["followups"], capsys)
    assert code == EXIT_STORE and "passphrase is not right" in err


def test_another_stores_key_file_is_not_called_a_wrong_passphrase(
    store_dir: Path, paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    other = tmp_path / "other"
    _init(other, monkeypatch, capsys, site="Another FLS")  # same passphrase, another data key
    paths.key_file.write_bytes(resolve(other).key_file.read_bytes())
    for argv in (["followups"], ["passwd"], ["backup", str(tmp_path / "b")]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "does not belong to the database" in err
        assert "passphrase is not right" not in err


def test_a_damaged_first_page_is_damage_not_a_wrong_passphrase(
    store_dir: Path, paths: AppPaths, capsys
) -> None:
    raw = bytearray(paths.database.read_bytes())
    raw[200] ^= 0x55  # inside page 1, past the salt
    paths.database.write_bytes(bytes(raw))
    code, err = _run(["followups"], capsys)
    assert code == EXIT_STORE
    assert "damaged" in err and "first page" in err
    assert "passphrase is not right" not in err and "does not belong" not in err


def test_missing_key_file_is_damage_not_no_store_yet(
    store_dir: Path, paths: AppPaths, capsys
) -> None:
    paths.key_file.unlink()
    for argv in (["followups"], ["passwd"]):
        code, err = _run(argv, capsys)
        assert code == EXIT_STORE, (argv, err)
        assert "key file" in err and "missing" in err
        assert "yet" not in err and "init" not in err


# --------------------------------------------------------------------------- a mistyped --data-dir


@pytest.mark.parametrize(
    "argv",
    [
        ["followups"],
        ["passwd"],
        ["export", "--all", "--out", "OUT/x.csv"],
        ["export", "--all", "--dry-run", "--out", "OUT/x.csv"],
        ["backup", "OUT"],
        ["import", "OUT/in.csv"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_mistyped_data_dir_makes_no_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, argv: list[str]
) -> None:
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "in.csv").write_text("a,b\n1,2\n")
    typo = tmp_path / "Dekstop" / "flsdesk-data"
    filled = [a.replace("OUT", str(out)) for a in argv]
    code, err = _run(["--data-dir", str(typo), *filled], capsys)
    if code == EXIT_USAGE and "invalid choice" in err:
        pytest.fail(f"command not known here: {argv[0]}")
    assert code == EXIT_STORE, err
    assert "no flsdesk store" in err.lower() or "no store" in err.lower()
    assert not (tmp_path / "Dekstop").exists()


# --------------------------------------------------------------------------- a real bug: exit 4


def test_an_internal_error_is_exit_4_with_the_log_path(
    store_dir: Path, paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from flsdesk import followups

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero in a worklist")

    monkeypatch.setattr(followups, "worklist", broken)
    code, err = _run(["followups"], capsys)
    assert code == EXIT_INTERNAL
    assert "internal error" in err and "rolled back or never started" in err
    log_file = paths.data_dir / "logs" / "flsdesk.log"
    assert str(log_file) in err
    assert "ZeroDivisionError" in log_file.read_text()


def test_a_failing_log_file_never_prints_a_logging_traceback(
    store_dir: Path, paths: AppPaths, capsys
) -> None:
    import logging

    from flsdesk import logs

    logs.setup_logging(paths.log_dir)
    handler = next(
        h for h in logging.getLogger("flsdesk").handlers if isinstance(h, logging.FileHandler)
    )

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    real = handler.setStream(FullDisk())  # every write now fails, as on a full disk
    try:
        logging.getLogger("flsdesk.test").warning("this line cannot be written")
    finally:
        handler.setStream(real)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- a closed stdout


def _records(paths: AppPaths, n: int) -> None:
    key = keys.unlock_with_passphrase(paths.key_file, PASS)
    diagnosed = date.today() - timedelta(days=100)
    with Store.open(paths, key, "TS (tester)") as store:
        for i in range(n):
            answers = complete_answers(nhs_number(300000000 + 10 * i), diagnosed=diagnosed)
            for q in ("6.01", "7.01"):
                answers.pop(q)
            store.new_record(answers)


def _with_closed_stdout(data_dir: Path, *argv: str) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write to stdout fails (EPIPE)
    try:
        done = subprocess.run(
            [sys.executable, str(REPO / "main.py"), "--data-dir", str(data_dir), *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO), "FLSDESK_PASSPHRASE": PASS},
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.slow  # real subprocesses on a closed or broken pipe
@pytest.mark.skipif(os.name != "posix", reason="EPIPE")
def test_closed_stdout_is_exit_2_with_a_message(
    store_dir: Path, paths: AppPaths, tmp_path: Path, capsys
) -> None:
    _records(paths, 30)
    # The listings print something when stdout is open (else this would prove nothing).
    assert main(["followups", "--state", "all"]) == EXIT_OK
    assert capsys.readouterr().out.strip()
    for argv in (
        ["followups", "--state", "all"],
        ["export", "--all", "--dry-run", "--out", str(tmp_path / "x.csv")],
    ):
        code, err = _with_closed_stdout(store_dir, *argv)
        _clean(err)
        assert "Exception ignored" not in err, err
        assert code == EXIT_USAGE, (argv, code, err)
        assert "output was closed" in err


@pytest.mark.slow  # real subprocesses on a closed or broken pipe
@pytest.mark.skipif(os.name != "posix", reason="a shell pipe")
def test_followups_piped_to_head(store_dir: Path, paths: AppPaths) -> None:
    _records(paths, 200)
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" "{REPO / "main.py"}" --data-dir "{store_dir}" '
            "followups --state all | head -1",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "FLSDESK_PASSPHRASE": PASS},
        timeout=300,
    )
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1
    _clean(done.stderr)
    assert "Exception ignored" not in done.stderr


def test_an_error_outside_any_command_is_exit_4_not_1(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from flsdesk.cli import runner

    def broken(*args: object) -> None:
        raise RuntimeError("a bug while finding the folders")

    monkeypatch.setattr(runner, "resolve", broken)
    code, err = _run(["followups"], capsys)
    assert code == EXIT_INTERNAL and "internal error" in err


# --------------------------------------------------------------------------- passwd and the lock


def test_passwd_while_the_store_is_open_is_exit_3_and_changes_nothing(
    store_dir: Path, paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "a new passphrase")
    before = paths.key_file.read_bytes()
    with StoreLock(store_dir):  # the window (or an import) has the store open
        code, err = _run(["passwd"], capsys)
    assert code == EXIT_STORE and "already open" in err
    assert paths.key_file.read_bytes() == before
    code, _err = _run(["passwd"], capsys)  # free again
    assert code == EXIT_OK
    assert keys.unlock_with_passphrase(paths.key_file, "a new passphrase")
