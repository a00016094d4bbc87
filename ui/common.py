"""Small widget builders every window shares, so lists and dialogs look and behave alike."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableView,
)


def read_only_table(
    name: str, model: QAbstractItemModel | None = None, fit_columns: bool = True
) -> QTableView:
    """A table of whole rows to select and open, never to edit; Tab leaves it."""
    view = QTableView(objectName=name)
    if model is not None:
        view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    if fit_columns:
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.setTabKeyNavigation(False)
    return view


def ok_cancel(dialog: QDialog, ok_text: str = "OK") -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def reason_combo(name: str, reasons: Iterable[str]) -> QComboBox:
    """A required choice: starts on a prompt with no value, so nothing is picked by accident."""
    combo = QComboBox(objectName=name)
    combo.setAccessibleName("Reason")
    combo.addItem("Choose a reason…", None)
    for reason in reasons:
        combo.addItem(reason, reason)
    return combo
