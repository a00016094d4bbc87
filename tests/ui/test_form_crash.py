"""A field shown as "Saved" survives the process being killed outright (a crash, a power cut)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flsdesk.paths import AppPaths
from tests.ui.conftest import PASSPHRASE, StoreBox

REPO = Path(__file__).resolve().parents[2]

# The child: opens the store, types into a new record's field through QTest (without leaving
# the field, so the autosave timer does the work), prints SAVED once the indicator says so,
# then keeps running until it is killed.
CHILD = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from flsdesk import session
from flsdesk.paths import resolve

app = QApplication([])
paths = resolve()
store = session.open_store(paths, session.unlock_key(paths, sys.argv[1]), "TS")
from flsdesk_ui.form.window import RecordWindow
window = RecordWindow(store)
window.show()
field = window.findChild(QWidget, "q_1_04")
field.setFocus()
QTest.keyClicks(field, "ZZ9 9ZZ")
deadline = time.monotonic() + 10
while not window.indicator.text().startswith("Saved "):
    app.processEvents()
    time.sleep(0.005)
    if time.monotonic() > deadline:
        print("TIMEOUT", window.indicator.text(), flush=True)
        sys.exit(1)
print("SAVED", window.record_id, flush=True)
while True:
    app.processEvents()
    time.sleep(0.01)
"""


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_killed_after_saved_keeps_the_field(tmp_path: Path, app_paths: AppPaths) -> None:
    box = StoreBox(app_paths)
    box.close()  # the child takes the store's lock
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen(
        [sys.executable, str(script), PASSPHRASE],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith(("SAVED", "TIMEOUT")) and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                line = child.stdout.readline() if child.stdout else ""
                if not line and child.poll() is not None:
                    break
        assert line.startswith("SAVED"), f"child said {line!r}; stderr: {child.stderr.read()}"
        record_id = int(line.split()[1])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    store = box.open()  # a restart: the lock left by the dead child is free again
    assert store.load(record_id).answers["1.04"] == "ZZ9 9ZZ"
