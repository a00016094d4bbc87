"""Starting the window: first-run wizard or unlock, then the main window; backup on close."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from flsdesk import session
from flsdesk.datafiles import DataFileError
from flsdesk.dataset import load_definitions
from flsdesk.logs import install_excepthook, setup_logging
from flsdesk.paths import AppPaths
from flsdesk.store import address as team_address
from flsdesk.store import backup, presence
from flsdesk.store.address import BadAddress, StoreAddress
from flsdesk.store.errors import StoreDamaged, StoreError, StoreInUse, WrongKey
from flsdesk.store.store import Store
from flsdesk_ui.store_repair import DailyCheck, ask_rotate_richer, offer_restore
from flsdesk_ui.team_settings import ThisComputerDialog
from flsdesk_ui.team_unlock import TeamUnlockDialog, team_relock_prompt
from flsdesk_ui.unlock import UnlockDialog
from flsdesk_ui.wizard import SetupWizard

log = logging.getLogger("ui.app")


@dataclass
class Started:
    store: Store
    data_key: bytes | None  # None for a team store: no key, the server signs people in
    initials: str
    address: StoreAddress | None = None  # the team database signed in to, without password


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv)
    app.setApplicationName("flsdesk")
    app.setOrganizationName("flsdesk")
    return app  # type: ignore[return-value]


def show_error(text: str, parent: QWidget | None = None) -> None:
    QMessageBox.critical(parent, "flsdesk", text)


def first_run(paths: AppPaths) -> Started | None:
    wizard = SetupWizard(paths)
    wizard.exec()
    if wizard.store is None:
        return None
    if wizard.store.is_team:  # joined the team's database
        return Started(wizard.store, None, wizard.store.user, wizard.team_address)
    if wizard.data_key is None:
        return None
    return Started(wizard.store, wizard.data_key, wizard.service_page.initials.text())


def start_store(paths: AppPaths) -> Started | None:
    """The first-run wizard when there is no store, else unlock and open it; a damaged store is
    never replaced by a new one: its latest good backup is offered instead. A team database
    (FLSDESK_STORE or this computer's setting) is signed in to instead."""
    try:
        chosen = session.team_address(paths)
    except BadAddress as exc:
        show_error(f"{exc}\n\nCorrect the address now (or empty it for this computer's own store).")
        if os.environ.get(team_address.STORE_ENV) or not ThisComputerDialog(paths).exec():
            return None
        return start_store(paths)
    if chosen is not None:
        return start_team(paths, chosen)
    if not session.store_exists(paths):  # settles an interrupted restore first
        return first_run(paths)
    problem = presence.file_problem(paths)
    damaged = f"The store in {paths.data_dir} is damaged: {problem}."
    if problem and not offer_restore(paths, damaged):
        return None
    return open_existing(paths)


def open_existing(paths: AppPaths, *, offered: bool = False) -> Started | None:
    """Unlock (environment, remembered key or dialog) and open; None when the user gave up."""
    initials = os.environ.get(session.INITIALS_ENV, "")
    try:
        data_key = session.key_from_environment(paths)
    except WrongKey as exc:
        show_error(f"{exc} (from FLSDESK_PASSPHRASE / FLSDESK_RECOVERY_KEY)")
        return None
    if data_key is None:
        dialog = UnlockDialog(paths, session.remembered_key(paths), initials)
        if not dialog.exec() or dialog.data_key is None:
            return None
        data_key, initials = dialog.data_key, dialog.initials.text()
    try:
        # The re-derivation a changed definition needs runs behind a progress dialog (run()).
        store = session.open_store(paths, data_key, initials, defer_rederive=True)
    except StoreInUse as exc:
        show_error(
            f"{exc}\n\nOnly one copy of flsdesk can use the store at a time, so that no change "
            "is lost. Switch to the copy that is already open, or close it first."
        )
        return None
    except StoreDamaged as exc:
        # Found by the quick check, or a database the store's own key does not open.
        if offered or not offer_restore(paths, str(exc)):
            return None
        return open_existing(paths, offered=True)
    except StoreError as exc:
        show_error(str(exc))
        return None
    return Started(store, data_key, initials)


def start_team(paths: AppPaths, address: StoreAddress) -> Started | None:
    """Sign in with the remembered password (or FLSDESK_DB_PASSWORD), else ask; None when the
    person gave up. The server's answer (wrong password, unreachable …) shows in the dialog."""
    ca_file = address.ca_file(paths)
    problem = ""
    password = team_address.password_without_asking(address)
    if password is not None:
        try:
            store = session.open_team(paths, address, password, defer_rederive=True)
        except StoreError as exc:
            problem = str(exc)
        else:
            return Started(store, None, store.user, address)
    dialog = TeamUnlockDialog(paths, address, ca_file, problem=problem)
    if not dialog.exec() or dialog.store is None:
        return None
    if dialog.remember_problem:
        QMessageBox.warning(None, "flsdesk", dialog.remember_problem)
    return Started(dialog.store, None, dialog.store.user, dialog.address)


def _team_chosen(paths: AppPaths) -> bool:
    try:
        return session.team_address(paths) is not None
    except BadAddress:
        return True


def relock_prompt(paths: AppPaths) -> Callable[[QWidget, bool], str | None]:
    """Unlocking after the lock: the initials of whoever went on, or None."""

    def ask(parent: QWidget, idle: bool) -> str | None:
        # No initials filled in: the person at the desk now may not be who locked it.
        dialog = UnlockDialog(paths, None, "", relock=True, parent=parent, idle=idle)
        return dialog.initials.text().strip() if dialog.exec() else None

    return ask


def run(paths: AppPaths) -> int:
    app = application()
    try:
        setup_logging(paths.log_dir)
    except OSError as exc:
        show_error(f"The log folder {paths.log_dir} cannot be written: {exc.strerror}")
        return 2
    install_excepthook(show=lambda text: show_error(text))
    try:
        load_definitions(paths)
    except DataFileError as exc:
        show_error(
            "A dataset definition file has problems, so flsdesk cannot check records safely:\n\n"
            f"{exc}\n\nCorrect the file (see 'flsdesk definitions --check FILE') or remove it "
            f"from {paths.overrides_dir}."
        )
        return 2
    started = start_store(paths)
    if started is None:
        return 3 if session.store_exists(paths) or _team_chosen(paths) else 0
    from flsdesk_ui.main_window import MainWindow
    from flsdesk_ui.rederive_progress import RederiveAtStart, announce

    try:
        rederived = RederiveAtStart(started.store).run()
    except StoreError as exc:
        started.store.close()
        show_error(str(exc))
        return 3
    unlock = relock_prompt(paths)
    if started.address is not None:
        unlock = team_relock_prompt(paths, started.address, started.address.ca_file(paths))
    window = MainWindow(started.store, paths, started.initials, unlock=unlock)
    window.show()
    announce(window, rederived)
    window.start_idle_watch(app)
    daily_check = DailyCheck(started.store, paths, window)
    daily_check.start()
    log.info("window open")
    code = app.exec()
    daily_check.wait()
    close_store(started, paths)
    return int(code)


def close_store(started: Started, paths: AppPaths, parent: QWidget | None = None) -> None:
    """Close the store and keep a rotating encrypted backup (the last seven); backups holding
    more records than the store are deleted only if the person says so; a damaged store is not
    backed up, and the person is told which backup is the last good one."""
    if started.data_key is None:
        # A team database: the server keeps the backups (README, "Running flsdesk for a team").
        started.store.close()
        return
    try:
        started.store.close()
        backup.rotating_backup_on_close(paths, started.data_key, ask=ask_rotate_richer(parent))
    except StoreDamaged as exc:
        log.error("backup on close refused: the store is damaged")
        show_error(str(exc), parent)
    except (StoreError, OSError) as exc:
        log.error("backup on close failed: %s", type(exc).__name__)
