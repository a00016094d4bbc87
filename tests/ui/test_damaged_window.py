"""Issue 11 points 2 and 5 in the window: a damaged store offers its latest good backup and
restores it; the daily full check runs in a worker thread and reports damage at once; closing
asks before rotating away backups that hold more records than the store.

The dialogs are driven as a person would: typing into them and clicking their buttons.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from flsdesk import session
from flsdesk.paths import AppPaths
from flsdesk.store import backup, engine
from flsdesk_ui import app as app_mod
from flsdesk_ui.store_repair import DailyCheck, RestoreOfferDialog
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.store_cases import flip_byte_in_free_page, flip_byte_in_records_page
from tests.ui.conftest import INITIALS, PASSPHRASE

RECORDS = 6


class Driver:
    """Runs each action on the next modal dialog in turn, as soon as it is open. A failed
    assertion inside closes the dialog and is raised again by ``check()``."""

    def __init__(self, qtbot, *actions) -> None:  # type: ignore[no-untyped-def]
        self.qtbot = qtbot
        self.actions = list(actions)
        self.seen: list[str] = []
        self.errors: list[BaseException] = []
        self._last: QWidget | None = None
        QTimer.singleShot(0, self._run)

    def _run(self) -> None:
        if not self.actions:
            return
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog is self._last:
            QTimer.singleShot(10, self._run)
            return
        self._last = dialog
        self.seen.append(dialog.objectName())
        action = self.actions.pop(0)
        try:
            action(dialog)
        except BaseException as exc:
            self.errors.append(exc)
            dialog.reject()
        QTimer.singleShot(10, self._run)

    def check(self) -> list[str]:
        if self.errors:
            raise self.errors[0]
        return self.seen


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def store_with_backup(app_paths: AppPaths) -> AppPaths:
    created = session.create(app_paths, PASSPHRASE, INITIALS, "Test FLS", "RX1")
    with created.store as store:
        for n in range(RECORDS):
            store.new_record(complete_answers(nhs_number(300000000 + n * 11)))
    backup.rotating_backup_on_close(app_paths, created.data_key)
    return app_paths


def _records(paths: AppPaths) -> int:
    key = session.unlock_key(paths, PASSPHRASE)
    with session.open_store(paths, key, INITIALS) as store, store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM records").scalar())


def test_an_empty_database_offers_the_latest_backup_and_restores_it(
    qtbot, store_with_backup: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = store_with_backup
    latest = backup.automatic_backups(paths.backups_dir)[-1]
    paths.database.write_bytes(b"")  # what the field found: a database truncated to 0 bytes
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)  # the unlock after the restore
    monkeypatch.setenv("FLSDESK_INITIALS", INITIALS)

    def restore(dialog: RestoreOfferDialog) -> None:
        qtbot.addWidget(dialog)
        assert isinstance(dialog, RestoreOfferDialog)
        assert "empty (0 bytes)" in dialog.problem.text()
        assert str(latest) in dialog.offer.text()
        assert f"holding {RECORDS} records" in dialog.offer.text()
        qtbot.keyClicks(dialog.secret, "not the passphrase")
        click(qtbot, dialog.restore_button)
        assert dialog.isVisible()
        assert "does not open this backup" in dialog.error.text()
        assert paths.database.read_bytes() == b""  # nothing replaced on a wrong secret
        dialog.secret.clear()
        qtbot.keyClicks(dialog.secret, PASSPHRASE)
        qtbot.keyClick(dialog.secret, Qt.Key.Key_Return)

    driver = Driver(qtbot, restore)
    started = app_mod.start_store(paths)
    assert driver.check() == ["restore_offer_dialog"]
    assert started is not None, "the restored store did not open"
    try:
        with started.store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM records").scalar() == RECORDS
    finally:
        started.store.close()


def test_damage_found_by_the_quick_check_offers_the_restore(
    qtbot, store_with_backup: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = store_with_backup
    flip_byte_in_records_page(paths, session.unlock_key(paths, PASSPHRASE))
    damaged = paths.database.read_bytes()
    monkeypatch.setenv("FLSDESK_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("FLSDESK_INITIALS", INITIALS)

    def decline(dialog: RestoreOfferDialog) -> None:
        qtbot.addWidget(dialog)
        assert "fails its integrity check" in dialog.problem.text()
        click(qtbot, dialog.findChild(QWidget, "restore_offer_quit"))

    driver = Driver(qtbot, decline)
    assert app_mod.start_store(paths) is None
    assert driver.check() == ["restore_offer_dialog"]
    assert paths.database.read_bytes() == damaged  # declined: nothing replaced, nothing new


def test_the_daily_check_runs_in_a_worker_and_says_at_once_when_it_finds_damage(
    qtbot, app_paths: AppPaths
) -> None:
    created = session.create(app_paths, PASSPHRASE, INITIALS, "Test FLS", "RX1")
    created.store.close()
    flip_byte_in_free_page(app_paths, created.data_key)
    # The quick check at open cannot see a free page: the store opens.
    store = session.open_store(app_paths, created.data_key, INITIALS)
    window = QWidget()
    qtbot.addWidget(window)
    seen: list[str] = []

    def acknowledge(box: QMessageBox) -> None:
        qtbot.addWidget(box)
        seen.append(box.text())
        click(qtbot, box.button(QMessageBox.StandardButton.Ok))

    try:
        check = DailyCheck(store, app_paths, window)
        driver = Driver(qtbot, acknowledge)
        with qtbot.waitSignal(check.damage_found, timeout=60_000) as damage:
            assert check.start()
            assert check.op is not None
            assert check.op.worker.thread() is not QApplication.instance().thread()
        qtbot.waitUntil(lambda: bool(seen), timeout=60_000)
        driver.check()
        assert "HMAC" in damage.args[0] and "damaged" in seen[0]
        assert store.full_check_due()  # a failed check is not recorded as done
        check.wait()
    finally:
        store.close()


def test_the_daily_check_passes_once_a_day(qtbot, store_with_backup: AppPaths) -> None:
    key = session.unlock_key(store_with_backup, PASSPHRASE)
    store = session.open_store(store_with_backup, key, INITIALS)
    window = QWidget()
    qtbot.addWidget(window)
    try:
        check = DailyCheck(store, store_with_backup, window)
        with qtbot.waitSignal(check.finished, timeout=60_000):
            assert check.start()
        assert check.result is not None and check.result.ok
        assert not DailyCheck(store, store_with_backup, window).start()  # done for today
    finally:
        store.close()


@pytest.mark.parametrize("answer", ["rotate_richer_keep", "rotate_richer_delete"])
def test_closing_asks_before_rotating_away_backups_holding_more_records(
    qtbot, store_with_backup: AppPaths, answer: str
) -> None:
    paths = store_with_backup
    key = session.unlock_key(paths, PASSPHRASE)
    for _ in range(backup.KEEP_AUTOMATIC - 1):
        backup.rotating_backup_on_close(paths, key)
    oldest = backup.automatic_backups(paths.backups_dir)[0]
    conn = engine.connect(paths.database, key)
    conn.execute("DELETE FROM records WHERE id > 1")  # records lost, by mistake or damage
    conn.commit()
    conn.close()
    started = app_mod.Started(session.open_store(paths, key, INITIALS), key, INITIALS)
    questions: list[str] = []

    def choose(box: QMessageBox) -> None:
        qtbot.addWidget(box)
        questions.append(box.text())
        click(qtbot, box.findChild(QWidget, answer))

    driver = Driver(qtbot, choose)
    app_mod.close_store(started, paths)
    assert driver.check() == ["rotate_richer_question"]
    expected = f"1 older automatic backup(s) hold more records (up to {RECORDS})"
    assert "The store now holds 1 records" in questions[0] and expected in questions[0]
    assert oldest.exists() == (answer == "rotate_richer_keep")


def test_the_wizard_is_not_offered_over_a_restore_kept_aside(
    app_paths: AppPaths, store_with_backup: AppPaths, tmp_path: Path
) -> None:
    # The state a power cut leaves mid-restore: the old store aside, no database in place.
    paths = store_with_backup
    paths.database.rename(paths.data_dir / "flsdesk.db.before-restore")
    paths.key_file.rename(paths.data_dir / "flsdesk.key.before-restore")
    assert session.store_exists(paths)  # settled: the old store is back, so: unlock, no wizard
    assert paths.database.exists() and paths.key_file.exists()
    assert _records(paths) == RECORDS


def test_closing_a_damaged_store_backs_nothing_up_and_says_which_backup_is_good(
    qtbot, store_with_backup: AppPaths
) -> None:
    paths = store_with_backup
    key = session.unlock_key(paths, PASSPHRASE)
    last_good = backup.automatic_backups(paths.backups_dir)[-1]
    started = app_mod.Started(session.open_store(paths, key, INITIALS), key, INITIALS)
    flip_byte_in_free_page(paths, key)  # found while the window was open
    told: list[str] = []

    def acknowledge(box: QMessageBox) -> None:
        qtbot.addWidget(box)
        told.append(box.text())
        click(qtbot, box.button(QMessageBox.StandardButton.Ok))

    driver = Driver(qtbot, acknowledge)
    app_mod.close_store(started, paths)
    driver.check()
    assert "damaged" in told[0] and str(last_good) in told[0]
    assert backup.automatic_backups(paths.backups_dir) == [last_good]
