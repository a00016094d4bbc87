"""Small widget builders every window shares, so lists and dialogs look and behave alike."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QMessageBox,
    QTableView,
    QWidget,
)

from flsdesk import files
from flsdesk.paths import AppPaths


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


def ask_save_path(
    parent: QWidget | None,
    title: str,
    suggested: str,
    filter_text: str,
    paths: AppPaths | None = None,
) -> Path | None:
    """The Save… file dialog for a file written for the user: a place on the store's own files
    or folders is refused with a message saying why, and the user picks again."""
    while True:
        name, _ = QFileDialog.getSaveFileName(parent, title, suggested, filter_text)
        if not name:
            return None
        problem = files.refusal(name, paths)
        if problem is None:
            return Path(name)
        QMessageBox.warning(parent, title, f"{problem}\n\nNothing was written.")
        suggested = str(Path.home() / Path(name).name)
