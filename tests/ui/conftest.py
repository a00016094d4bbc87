"""Fixtures for the UI tests: a real encrypted store in the test's own data folder.

``tests/conftest.py`` already points FLSDESK_DATA_DIR / FLSDESK_CONFIG_DIR at fresh temporary
folders, sets key derivation to test strength and installs no keyring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from flsdesk import session
from flsdesk.paths import AppPaths, resolve
from flsdesk.store.store import Store

PASSPHRASE = "correct horse battery staple"
INITIALS = "TS"


@pytest.fixture
def app_paths() -> AppPaths:
    """The folders of this test (from the environment tests/conftest.py sets)."""
    return resolve()


class StoreBox:
    """Holds the open store; ``restart()`` closes it and opens it again, as a relaunch does."""

    def __init__(self, paths: AppPaths) -> None:
        self.paths = paths
        created = session.create(paths, PASSPHRASE, INITIALS, "Test FLS", "RX1")
        self.store: Store | None = created.store

    def open(self) -> Store:
        key = session.unlock_key(self.paths, PASSPHRASE)
        self.store = session.open_store(self.paths, key, INITIALS)
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def restart(self) -> Store:
        self.close()
        return self.open()


@pytest.fixture
def store_box(app_paths: AppPaths) -> Iterator[StoreBox]:
    box = StoreBox(app_paths)
    yield box
    box.close()


@pytest.fixture
def store(store_box: StoreBox) -> Store:
    assert store_box.store is not None
    return store_box.store


@pytest.fixture
def open_form(qtbot, store: Store) -> Callable[..., object]:  # type: ignore[no-untyped-def]
    """Open a RecordWindow on the test store, registered with qtbot and shown."""
    from PySide6.QtWidgets import QApplication

    from flsdesk_ui.form.window import RecordWindow

    def _open(record_id: int | None = None, **kwargs: object) -> RecordWindow:
        target = kwargs.pop("store", store)
        window = RecordWindow(target, record_id=record_id, **kwargs)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        # Key clicks go to the focus widget of the active window, as on a real desktop.
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=20_000)
        # The tabs not in view are built by the form itself just after it shows.
        qtbot.waitUntil(lambda: window.fully_built, timeout=20_000)
        return window

    return _open


class Driver:
    """Runs ``actions(dialog)`` on the next modal dialog as soon as it is open.

    A failed assertion inside would leave the dialog's event loop running for ever, so it closes
    the dialog and is raised again by ``check()``.
    """

    def __init__(self, actions) -> None:
        self.actions = actions
        self.seen: list[str] = []
        self.errors: list[BaseException] = []
        QTimer.singleShot(0, self._run)

    def _run(self) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(10, self._run)
            return
        self.seen.append(dialog.objectName())
        try:
            self.actions(dialog)
        except BaseException as exc:
            self.errors.append(exc)
            dialog.reject()

    def check(self) -> list[str]:
        if self.errors:
            raise self.errors[0]
        return self.seen
