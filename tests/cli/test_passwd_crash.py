"""``flsdesk passwd`` killed with SIGKILL at every rename and every fsync, before and after each.

A real child process runs the real command line; a hook in that child counts the calls to
``os.fsync``/``os.replace``/``os.rename``/``os.link`` and SIGKILLs the process itself at the
chosen one. Afterwards the store opens with the old passphrase or the new one (never neither,
never both), with the recovery key, and the key it yields opens the database.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flsdesk.cli import EXIT_OK, main
from flsdesk.paths import AppPaths, resolve
from flsdesk.store import keys
from flsdesk.store.errors import WrongKey
from flsdesk.store.settings import SERVICE_NAME
from flsdesk.store.store import Store

REPO = Path(__file__).resolve().parents[2]
OLD = "the old passphrase"
NEW = "the new passphrase"
RECOVERY = re.compile(r"\b[A-Z2-7]{5}(?:-[A-Z2-7]{5}){7}\b")
HOOKED = ("fsync", "replace", "rename", "link")

CHILD = textwrap.dedent(
    """
    import atexit, json, os, signal, sys
    sys.path.insert(0, os.environ["REPO"])
    from flsdesk.store import keys
    keys.kdf_params = keys.TEST_KDF  # a test child: key derivation at test strength

    target = os.environ.get("CRASH_AT", "")  # e.g. "replace:1:after"; empty = count only
    counts = {}

    def hooked(name, real):
        def call(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            here = f"{name}:{counts[name]}"
            if target == here + ":before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(*args, **kwargs)
            if target == here + ":after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return call

    for name in HOOKED_NAMES:
        setattr(os, name, hooked(name, getattr(os, name)))

    def report():
        with open(os.environ["COUNTS"], "w") as fh:
            json.dump(counts, fh)

    atexit.register(report)
    from flsdesk.cli import main
    code = main(["--data-dir", sys.argv[1], "passwd"])
    sys.stdout.flush()
    sys.exit(code)
    """
).replace("HOOKED_NAMES", repr(HOOKED))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]


def _run_child(
    script: Path, data: Path, counts: Path, crash_at: str
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "REPO": str(REPO),
        "CRASH_AT": crash_at,
        "COUNTS": str(counts),
        "FLSDESK_PASSPHRASE": OLD,
        "FLSDESK_NEW_PASSPHRASE": NEW,
    }
    return subprocess.run(
        [sys.executable, str(script), str(data)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def _opens(paths: AppPaths, secret: str) -> bytes | None:
    try:
        return keys.unlock_document(keys.read_key_document(paths.key_file), secret)
    except WrongKey:
        return None


def test_passwd_killed_at_every_rename_and_fsync_leaves_a_store_that_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "template"
    monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", OLD)
    assert main(["--data-dir", str(template), "init", "--site", "Crash FLS"]) == EXIT_OK
    monkeypatch.delenv("FLSDESK_NEW_PASSPHRASE")
    recovery = RECOVERY.findall(capsys.readouterr().out)[0]
    data_key = keys.unlock_with_passphrase(resolve(template).key_file, OLD)
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    # A full run first, to find every point (and to prove the hook sees them).
    full = tmp_path / "full"
    _copy_store(template, full)
    counts_file = tmp_path / "counts.json"
    done = _run_child(script, full, counts_file, "")
    assert done.returncode == EXIT_OK, done.stderr
    counts = json.loads(counts_file.read_text())
    assert counts.get("replace", 0) >= 1 and counts.get("fsync", 0) >= 2, counts
    assert _opens(resolve(full), NEW) == data_key

    points = [
        f"{name}:{n}:{when}"
        for name in HOOKED
        for n in range(1, counts.get(name, 0) + 1)
        for when in ("before", "after")
    ]
    seen = set()
    for point in points:
        data = tmp_path / point.replace(":", "-")
        _copy_store(template, data)
        result = _run_child(script, data, tmp_path / "ignored.json", point)
        assert result.returncode == -signal.SIGKILL, (point, result.returncode, result.stderr)
        paths = resolve(data)
        with_old, with_new = _opens(paths, OLD), _opens(paths, NEW)
        assert (with_old is None) != (with_new is None), point  # exactly one of them
        assert (with_old or with_new) == data_key, point
        assert keys.unlock_with_recovery_key(paths.key_file, recovery) == data_key, point
        with Store.open(paths, data_key, "TS (tester)") as store:
            assert store.get_setting(SERVICE_NAME) == "Crash FLS", point
        # And the ordinary command line still works on it, with whichever passphrase holds.
        monkeypatch.setenv("FLSDESK_PASSPHRASE", OLD if with_old else NEW)
        monkeypatch.setenv("FLSDESK_NEW_PASSPHRASE", "after the crash")
        assert main(["--data-dir", str(data), "passwd"]) == EXIT_OK, point
        assert keys.unlock_with_passphrase(paths.key_file, "after the crash") == data_key
        seen.add("new" if with_new else "old")
    print("crash points:", len(points), counts)
    assert seen == {"old", "new"}  # the kills fell on both sides of the switch


def _copy_store(src: Path, dest: Path) -> None:
    dest.mkdir(mode=0o700)
    for name in ("flsdesk.db", "flsdesk.key"):
        (dest / name).write_bytes((src / name).read_bytes())
        os.chmod(dest / name, 0o600)
