"""A service's own definition file changes the form with no code change."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from flsdesk.paths import AppPaths, bundled_resources
from tests.ui.conftest import StoreBox

EXTRA = Path(__file__).resolve().parents[1] / "fixtures" / "datasets-extra" / "extra-question.toml"


def _install_override(paths: AppPaths) -> Path:
    bundled = bundled_resources() / "datasets" / "flsdb-v3.toml"
    target = paths.overrides_dir / bundled.name  # same name: replaces the bundled file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        bundled.read_text(encoding="utf-8") + "\n" + EXTRA.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return target


def test_an_extra_question_in_the_override_file_shows_in_the_form(
    qtbot, app_paths: AppPaths
) -> None:
    from flsdesk_ui.form.window import RecordWindow

    _install_override(app_paths)
    box = StoreBox(app_paths)  # the store loads the definitions when it opens
    try:
        store = box.store
        assert store is not None
        assert store.definitions.latest.source == "override"
        record_id = store.new_record({"1.01": "9434765919"})
        window = RecordWindow(store, record_id=record_id, tab="investigation")
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=20_000)
        qtbot.waitUntil(lambda: window.fully_built, timeout=20_000)

        alcohol = window.findChild(QWidget, "q_2_07")
        assert alcohol is not None
        assert alcohol.accessibleName() == "Alcohol units per week"
        assert window.row("2.07").question.tab == "investigation"
        steroids = window.row("2.08")
        assert steroids.isHidden()  # its own applies_when, from the file

        alcohol.setFocus()
        qtbot.keyClicks(alcohol, "300")
        qtbot.keyClick(alcohol, Qt.Key.Key_Tab)
        assert "must be between" in window.row("2.07").messages.text()  # its own range
        assert not steroids.isHidden()
        alcohol.setFocus()
        alcohol.selectAll()
        qtbot.keyClicks(alcohol, "14")
        qtbot.keyClick(alcohol, Qt.Key.Key_Tab)
        assert QApplication.focusWidget().objectName() == "q_2_08"
        assert window.row("2.07").messages.isHidden()
        assert store.load(record_id).answers["2.07"] == 14
    finally:
        box.close()
