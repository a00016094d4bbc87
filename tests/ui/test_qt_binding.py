"""The Qt binding must not leak references: PySide6 6.12.0 on Python 3.11 dropped a reference to
None on every Qt call returning nothing, so a long session aborted with "deallocating None"."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QLineEdit


def test_qt_calls_do_not_drop_references_to_none(qtbot):
    app = QApplication.instance()
    obj = QObject()
    edit = QLineEdit()
    qtbot.addWidget(edit)
    before = sys.getrefcount(None)
    for i in range(2000):
        obj.setObjectName("x")
        edit.setText(str(i))
        app.processEvents()
    # A few references may come and go with garbage collection; thousands may not.
    assert sys.getrefcount(None) - before > -100
