"""What a person's role lets them do, as the main window shows it.

The store refuses what a role may not do (and the server refuses it again through its grants);
the window goes further and never offers it: an action a review user cannot use is hidden, not
left to fail with a message. Which role may do what is the roles' own property
(``Role.can_edit`` / ``Role.can_administer``, flsdesk/store/roles.py): nothing is decided here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from flsdesk.store.roles import Role

if TYPE_CHECKING:
    from flsdesk_ui.main_window import MainWindow

ROLE_NAMES = {
    Role.ENTRY: "entry (create and edit records)",
    Role.REVIEW: "review (read only)",
    Role.ADMIN: "administrator",
}


def role_text(role: Role) -> str:
    return ROLE_NAMES.get(role, str(role))


def _forbid_action(window: MainWindow, action: QAction) -> None:
    action.setVisible(False)
    action.setEnabled(False)  # a hidden action's shortcut must not fire either
    window.forbidden_actions.add(action)


def _forbid_button(widget: QWidget) -> None:
    # Hidden rather than disabled: the pages re-enable their buttons as the selection moves.
    widget.setVisible(False)
    widget.setEnabled(False)
    widget.setProperty("forbidden", True)


def apply_role(window: MainWindow, role: Role) -> None:
    """Hide every action ``role`` may not use, in menus, tool bar and pages."""
    if not role.can_edit:
        # An import creates and changes records: the entry role's right, as on the command line.
        for action in (window.act_new, window.act_new_fracture, window.act_import):
            _forbid_action(window, action)
        window.patients.first_record_hint = "No records yet."
        _forbid_button(window.followups.log_button)
        _forbid_button(window.followups.end_button)
    if not role.can_administer:
        for action in (
            window.act_delete,
            window.act_export,
            window.act_optout,
            window.act_settings,
        ):
            _forbid_action(window, action)
        _forbid_button(window.deleted.restore)
        for button in (
            window.outbox.upload_button,
            window.outbox.mark_button,
            window.outbox.discard_button,
        ):
            _forbid_button(button)
