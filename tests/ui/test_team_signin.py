"""Getting into a team database from the window: the wizard's "Join the team's database" page,
the sign-in at start (remembered password or the dialog), the idle lock asking the database
password again, and this computer's database settings. The password is never written to a file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox, QWizard

from flsdesk import settings as app_settings
from flsdesk.store import address as team_address
from flsdesk.store.roles import Role
from flsdesk_ui import app as app_mod
from flsdesk_ui.main_window import MainWindow
from flsdesk_ui.team_settings import ThisComputerDialog
from flsdesk_ui.team_unlock import TeamUnlockDialog, team_relock_prompt
from flsdesk_ui.wizard import SetupWizard
from tests.conftest import MemoryKeyring
from tests.helpers.team_ui import PASSWORD, TeamDb, team_db_fixture  # noqa: F401  (fixture)
from tests.ui.conftest import Driver


def _files_hold(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def _click_ok(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)


def test_the_sign_in_dialog_says_a_wrong_password_and_remembers_the_right_one(
    qtbot, team_db: TeamDb, app_paths, memory_keyring: MemoryKeyring
) -> None:
    address = team_db.address(Role.ENTRY)
    dialog = TeamUnlockDialog(app_paths, address, None)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.user.text() == team_db.users[Role.ENTRY] and dialog.user.isReadOnly()
    _click_ok(qtbot, dialog)  # no password: tried as none (GSSAPI), and this server wants one
    assert dialog.store is None and dialog.error.text() == "Please type your database password."
    qtbot.keyClicks(dialog.password, "not the password at all")
    _click_ok(qtbot, dialog)
    assert dialog.store is None and dialog.isVisible()
    assert "Please try again" in dialog.error.text()
    assert "not the password at all" not in dialog.error.text()
    dialog.password.clear()
    qtbot.keyClicks(dialog.password, PASSWORD)
    qtbot.mouseClick(dialog.remember, Qt.MouseButton.LeftButton)
    assert dialog.remember.isChecked()
    _click_ok(qtbot, dialog)
    assert dialog.store is not None
    try:
        assert dialog.store.role is Role.ENTRY and dialog.store.user == address.user
        assert dialog.password.text() == ""
        assert team_address.remembered_password(address) == PASSWORD
    finally:
        dialog.store.close()
    assert _files_hold(app_paths.data_dir.parent, PASSWORD) == []


def test_start_signs_in_with_the_remembered_password_or_asks(
    qtbot, team_db: TeamDb, app_paths, memory_keyring: MemoryKeyring, monkeypatch
) -> None:
    address = team_db.address(Role.REVIEW)
    monkeypatch.setenv(team_address.STORE_ENV, address.display)
    # Nothing remembered: the dialog asks (a person types the password and presses Enter).
    driver = Driver(lambda d: (qtbot.keyClicks(d.password, PASSWORD), _click_ok(qtbot, d)))
    started = app_mod.start_store(app_paths)
    assert driver.check() == ["team_unlock_dialog"]
    assert started is not None and started.store.role is Role.REVIEW
    assert started.data_key is None and started.address == address
    started.store.close()
    # Remembered: no dialog at all.
    team_address.remember_password(address, PASSWORD)
    started = app_mod.start_store(app_paths)
    assert started is not None and started.store.user == address.user
    started.store.close()
    # A remembered password the server now refuses: the dialog says so and asks.
    team_address.remember_password(address, "an old password nobody uses")
    driver = Driver(lambda d: d.reject())
    assert app_mod.start_store(app_paths) is None
    assert driver.check() == ["team_unlock_dialog"]


def test_the_idle_lock_asks_the_database_password_again(qtbot, team_db: TeamDb, app_paths) -> None:
    store = team_db.open(Role.ENTRY, app_paths)
    address = team_db.address(Role.ENTRY)
    window = MainWindow(store, app_paths, "", unlock=team_relock_prompt(app_paths, address, None))
    qtbot.addWidget(window)
    window.show()
    said: list[str] = []

    def unlock(dialog: TeamUnlockDialog) -> None:
        assert dialog.relock and address.user in dialog.intro.text()
        qtbot.keyClicks(dialog.password, "wrong wrong wrong")
        _click_ok(qtbot, dialog)
        said.append(dialog.error.text())
        assert dialog.isVisible()
        qtbot.keyClicks(dialog.password, PASSWORD)
        _click_ok(qtbot, dialog)

    driver = Driver(unlock)
    window.lock(idle=True)
    assert window.is_locked
    assert address.user in window.locked.text() and "database password" in window.locked.text()
    qtbot.waitUntil(lambda: not window.is_locked, timeout=10_000)
    assert driver.check() == ["team_unlock_dialog"]
    assert said and "Please try again" in said[0]
    assert store.user == address.user  # still the signed-in person


def test_the_wizard_joins_the_team_database(
    qtbot, team_db: TeamDb, app_paths, memory_keyring: MemoryKeyring
) -> None:
    wizard = SetupWizard(app_paths)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.mouseClick(wizard.service_page.join, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.join_page
    fields = wizard.join_page.fields
    database = team_db.database
    # A server on another computer without the trust's CA file: never tried unencrypted.
    qtbot.keyClicks(fields.address, "postgresql://db.trust.example/fls")
    qtbot.keyClicks(fields.user, team_db.users[Role.ENTRY])
    qtbot.keyClicks(fields.password, PASSWORD)
    qtbot.mouseClick(fields.test_button, Qt.MouseButton.LeftButton)
    assert "CA certificate file" in fields.result.text()
    # Nothing answers on that port: said in a sentence, nothing kept.
    fields.address.clear()
    qtbot.keyClicks(fields.address, f"postgresql://127.0.0.1:1/{database.name}")
    qtbot.mouseClick(fields.test_button, Qt.MouseButton.LeftButton)
    assert "nothing answers" in fields.result.text()
    assert PASSWORD not in fields.result.text()
    # The right address, a wrong password: refused.
    fields.address.clear()
    qtbot.keyClicks(
        fields.address, f"postgresql://127.0.0.1:{database.cluster.port}/{database.name}"
    )
    fields.password.clear()
    qtbot.mouseClick(fields.test_button, Qt.MouseButton.LeftButton)
    assert fields.result.text() == "Please type your database password."
    qtbot.keyClicks(fields.password, "a wrong password here")
    qtbot.mouseClick(fields.test_button, Qt.MouseButton.LeftButton)
    assert "password" in fields.result.text().lower()
    assert "Connected" not in fields.result.text()
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    qtbot.mouseClick(finish, Qt.MouseButton.LeftButton)
    assert wizard.store is None and wizard.currentPage() is wizard.join_page
    # The right password: Test says who is signed in; Finish joins and keeps the choice.
    fields.password.clear()
    qtbot.keyClicks(fields.password, PASSWORD)
    qtbot.mouseClick(fields.test_button, Qt.MouseButton.LeftButton)
    assert "Connected" in fields.result.text() and team_db.users[Role.ENTRY] in fields.result.text()
    fields.remember.setFocus()
    qtbot.keyClick(fields.remember, Qt.Key.Key_Space)
    assert fields.remember.isChecked()
    qtbot.mouseClick(finish, Qt.MouseButton.LeftButton)
    assert wizard.store is not None
    try:
        assert wizard.store.is_team and wizard.store.role is Role.ENTRY
        chosen = team_address.chosen_address(app_paths)
        assert chosen is not None and chosen.address == team_db.address(Role.ENTRY)
        assert team_address.remembered_password(chosen.address) == PASSWORD
        assert not wizard.isVisible()
    finally:
        wizard.store.close()
    # No password in any file of ours, and no local store was made.
    assert _files_hold(app_paths.config_dir, PASSWORD) == []
    assert not app_paths.key_file.exists()


def test_this_computers_settings_switch_between_the_team_and_the_own_store(
    qtbot, app_paths
) -> None:
    dialog = ThisComputerDialog(app_paths)
    qtbot.addWidget(dialog)
    dialog.show()
    fields = dialog.fields
    # A password typed into the address is never kept.
    qtbot.keyClicks(fields.address, "postgresql://jsmith:secret-pass@db.trust.example/fls")
    ca = app_paths.config_dir.parent / "trust-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    qtbot.keyClicks(fields.ca_file, str(ca))
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    saved = app_settings.read_pc_settings(app_paths.config_dir)
    assert saved["store_address"] == "postgresql://jsmith@db.trust.example/fls"
    assert saved["team_ca_file"] == str(ca)
    assert _files_hold(app_paths.config_dir, "secret-pass") == []
    # A bad address is said, and nothing changes.
    again = ThisComputerDialog(app_paths)
    qtbot.addWidget(again)
    again.show()
    assert again.fields.address.text() == saved["store_address"]
    again.fields.address.clear()
    qtbot.keyClicks(again.fields.address, "mysql://db/fls")
    again.save()
    assert again.isVisible() and "postgresql://" in again.fields.result.text()
    # Emptied: this computer's own store again.
    again.fields.address.clear()
    again.save()
    assert team_address.chosen_address(app_paths) is None


def test_an_address_without_a_user_asks_the_user_name_too(
    qtbot, team_db: TeamDb, app_paths
) -> None:
    database = team_db.database
    address = team_address.StoreAddress.parse(
        f"postgresql://127.0.0.1:{database.cluster.port}/{database.name}"
    )
    dialog = TeamUnlockDialog(app_paths, address, None)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.user.isReadOnly()
    qtbot.keyClicks(dialog.password, PASSWORD)
    _click_ok(qtbot, dialog)
    assert dialog.store is None and "user name" in dialog.error.text()
    qtbot.keyClicks(dialog.user, team_db.users[Role.REVIEW])
    _click_ok(qtbot, dialog)
    assert dialog.store is not None
    try:
        assert dialog.store.role is Role.REVIEW
        assert dialog.address.user == team_db.users[Role.REVIEW]
    finally:
        dialog.store.close()


def test_giving_up_the_sign_in_ends_with_exit_code_3(
    qtbot, team_db: TeamDb, app_paths, monkeypatch
) -> None:
    monkeypatch.setenv(team_address.STORE_ENV, team_db.address(Role.ENTRY).display)
    driver = Driver(lambda d: d.reject())
    assert app_mod.run(app_paths) == 3
    assert driver.check() == ["team_unlock_dialog"]


def test_a_bad_address_in_this_computers_settings_is_said_and_can_be_corrected(
    qtbot, app_paths
) -> None:
    # Written by hand (or by an older version): the shape passes, the address does not.
    app_settings.write_pc_setting(app_paths.config_dir, "store_address", "postgresql://db.example")
    said: list[str] = []

    def empty_it(dialog: ThisComputerDialog) -> None:
        dialog.fields.address.clear()
        qtbot.mouseClick(
            dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save),
            Qt.MouseButton.LeftButton,
        )
        # Then, with no team database and no store yet: the first-run wizard. Not today.
        Driver(lambda wizard: wizard.reject())

    def acknowledge(box: QMessageBox) -> None:
        said.append(box.text())
        Driver(empty_it)
        box.accept()

    driver = Driver(acknowledge)
    assert app_mod.start_store(app_paths) is None
    driver.check()
    assert said and "must name the database" in said[0]
    assert team_address.chosen_address(app_paths) is None  # this computer's own store again


def test_the_window_opens_the_store_given_with_store_and_a_password_for_scripts(
    qtbot, team_db: TeamDb, app_paths, monkeypatch
) -> None:
    # ``flsdesk --store ADDRESS`` with no command opens the window on that database; the
    # password from FLSDESK_DB_PASSWORD (a kiosk script, the tests) means no dialog.
    monkeypatch.setenv(team_address.PASSWORD_ENV, PASSWORD)
    paths = dataclasses.replace(app_paths, store=team_db.address(Role.ADMIN).display)
    started = app_mod.start_store(paths)
    assert started is not None
    try:
        assert started.store.role is Role.ADMIN and started.address == team_db.address(Role.ADMIN)
    finally:
        started.store.close()
    assert team_address.chosen_address(app_paths) is None  # nothing kept for the next start


def test_settings_check_the_password_before_remembering_it(
    qtbot, team_db: TeamDb, app_paths, memory_keyring: MemoryKeyring
) -> None:
    dialog = ThisComputerDialog(app_paths)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=3000)
    fields = dialog.fields
    fields.address.setFocus()
    address = team_db.address(Role.ENTRY)
    qtbot.keyClicks(fields.address, address.display)
    qtbot.keyClick(fields.address, Qt.Key.Key_Tab)
    assert fields.user.text() == address.user  # taken from the address
    fields.remember.setFocus()
    qtbot.keyClick(fields.remember, Qt.Key.Key_Space)
    dialog.save()
    assert dialog.isVisible() and "type it" in fields.result.text()  # nothing to remember yet
    qtbot.keyClicks(fields.password, "not my password")
    dialog.save()
    assert dialog.isVisible() and "password" in fields.result.text().lower()
    assert team_address.remembered_password(address) is None
    assert team_address.chosen_address(app_paths) is None  # nothing kept from a failed save
    fields.password.clear()
    qtbot.keyClicks(fields.password, PASSWORD)
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert team_address.remembered_password(address) == PASSWORD
    assert app_settings.read_pc_settings(app_paths.config_dir)["remember_db_password"] is True
    chosen = team_address.chosen_address(app_paths)
    assert chosen is not None and chosen.address == address
    assert _files_hold(app_paths.config_dir, PASSWORD) == []


def test_back_from_the_join_page_is_the_single_pc_set_up_again(qtbot, app_paths) -> None:
    wizard = SetupWizard(app_paths)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.mouseClick(wizard.service_page.join, Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.join_page
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.BackButton), Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.service_page
    page = wizard.service_page
    qtbot.keyClicks(page.site, "Northtown FLS")
    qtbot.keyClicks(page.initials, "ab")
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is wizard.passphrase_page


def test_a_single_pc_service_reaches_the_team_database_setting_from_settings(
    qtbot, store, app_paths
) -> None:
    from flsdesk_ui.dialogs import SettingsDialog

    settings = SettingsDialog(store)
    qtbot.addWidget(settings)
    settings.show()

    def join(dialog: ThisComputerDialog) -> None:
        qtbot.keyClicks(dialog.fields.address, "postgresql://jsmith@127.0.0.1/fls")
        save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)

    driver = Driver(join)
    qtbot.mouseClick(settings.this_computer, Qt.MouseButton.LeftButton)
    assert driver.check() == ["this_computer_dialog"]
    chosen = team_address.chosen_address(app_paths)
    assert chosen is not None and chosen.address.display == "postgresql://jsmith@127.0.0.1/fls"
