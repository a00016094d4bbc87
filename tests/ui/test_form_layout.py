"""The record window on a clinic screen (issue 12.9): it opens at a size that fits the screen,
and lays out without a horizontal scrollbar from 1024×700 up; the side panel narrows to fit."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QFrame, QLabel

from flsdesk.store.store import Store
from flsdesk_ui.form.window import NARROW_SIDE_WIDTH, SIDE_WIDTH

# A record that shows as much as the form can: every tab applies, long answers, messages.
RECORD = {
    "1.01": "9434765919",
    "1.02": "1950-03-02",
    "1.03": "Female",
    "1.09": "2024-03-01",
    "1.10": "Community (GP or other)",
    "1.11": "Wrist",
    "1.12": "Humerus",
    "3.01": "Ordered or recommended",
    "4.01": ["Alendronate"],
    "5.01": "Assessed",
    "6.01": "Yes",
    "name": "Margaret Ashworth-Castellano",
    "hospital_number": "RX1234567",
    "notes": "Seen in fracture clinic; prefers phone calls in the morning.",
}


def test_the_form_opens_at_a_size_that_fits_its_screen(store: Store, open_form) -> None:
    window = open_form(store.new_record(RECORD))
    room = window.screen().availableGeometry()
    assert window.frameGeometry().width() <= room.width()
    assert window.frameGeometry().height() <= room.height()


@pytest.mark.parametrize("size", [(1024, 700), (1180, 800), (1600, 900)], ids=str)
def test_no_horizontal_scrollbar_and_the_side_panel_fits(
    qtbot, store: Store, open_form, size: tuple[int, int]
) -> None:
    window = open_form(store.new_record(RECORD))
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=3000)
    side = window.findChild(QFrame, "side_panel")
    assert side.width() == (SIDE_WIDTH if size[0] >= 1180 else NARROW_SIDE_WIDTH)
    # The side panel lies wholly inside the window, beside the tabs.
    assert side.geometry().right() < window.width()
    assert side.geometry().left() > window.tabs.geometry().right()
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        page = window.tabs.currentWidget()
        QApplication.processEvents()
        bar = page.horizontalScrollBar()
        assert bar.maximum() == 0, f"tab {page.tab.id} scrolls sideways at {size}"
        assert not bar.isVisible()
        # Help text wraps inside the page instead of widening it.
        for label in page.content.findChildren(QLabel):
            if label.isVisible():
                right = label.mapTo(page.content, label.rect().topRight()).x()
                assert right <= page.viewport().width(), (page.tab.id, label.text()[:40])
