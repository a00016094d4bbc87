"""The main window: the patient list, deleted records, possible duplicates, and record actions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QWidget,
)

from flsdesk import session
from flsdesk.answers import nhs_for_people
from flsdesk.exchange import export
from flsdesk.paths import AppPaths
from flsdesk.queries import StoreQueries
from flsdesk.record_actions import RETENTION_DAYS, new_fracture_prefill
from flsdesk.store.errors import StoreError
from flsdesk.store.store import Store
from flsdesk_ui.dialogs import AboutDialog, AuditDialog, DeleteDialog, RecordDialog, SettingsDialog
from flsdesk_ui.export_dialog import ExportDialog
from flsdesk_ui.followups_view import FollowupsPage
from flsdesk_ui.idle import IdleWatcher
from flsdesk_ui.import_dialog import ImportDialog
from flsdesk_ui.kpi.dashboard import KpiPage, deadline_status
from flsdesk_ui.optout_dialog import OptoutDialog
from flsdesk_ui.outbox_view import OutboxPage
from flsdesk_ui.pages import DeletedPage, DuplicatesPage, PatientsPage
from flsdesk_ui.refresh import ChangeWatcher
from flsdesk_ui.team_rights import apply_role, role_text
from flsdesk_ui.team_settings import edit_this_computer
from flsdesk_ui.team_unlock import team_relock_message
from flsdesk_ui.unlock import relock_message

log = logging.getLogger("ui.main")

PATIENTS, FOLLOWUPS, OUTBOX = "patients", "followups", "outbox"
KPIS = "kpis"
DELETED, DUPLICATES = "deleted", "duplicates"


class MainWindow(QMainWindow):
    def __init__(
        self,
        store: Store,
        paths: AppPaths,
        initials: str,
        unlock: Callable[[QWidget, bool], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.store = store
        self.paths = paths
        self.initials = initials
        # Asks initials and passphrase after the lock (told whether the idle timer locked it);
        # returns the initials of whoever unlocked, or None when it was not unlocked.
        self._unlock = unlock
        self.locked_when_idle = False
        self.open_windows: list[QWidget] = []
        self.forbidden_actions: set[QAction] = set()  # what this person's role may not do
        self.setObjectName("main_window")
        self.setWindowTitle(self._title())
        self.resize(1180, 720)

        self.pages = QTabWidget(objectName="main_pages")
        self.patients = PatientsPage(
            store,
            StoreQueries(store).list_followups,
        )
        self.followups = FollowupsPage(store)
        self.kpi = KpiPage(store)
        self.outbox = OutboxPage(store)
        self.deleted = DeletedPage()
        self.duplicates = DuplicatesPage(store.definitions.latest)
        self.pages.addTab(self.patients, "Patients")
        self.pages.addTab(self.followups, "Follow-ups")
        self.pages.addTab(self.kpi, "KPIs")
        self.pages.addTab(self.outbox, "Outbox")
        self.pages.addTab(self.deleted, "Deleted records")
        self.pages.addTab(self.duplicates, "Possible duplicates")
        self.locked = QLabel(
            "flsdesk is locked. Enter the passphrase to go on.", objectName="locked_page"
        )
        self.locked.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.locked.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.pages)
        self.stack.addWidget(self.locked)
        self.setCentralWidget(self.stack)
        self.deadline = QLabel(objectName="status_deadline")
        self.statusBar().addPermanentWidget(self.deadline)
        self.export_age = QLabel(objectName="status_export_age")
        self.statusBar().addPermanentWidget(self.export_age)
        self.followup_counts = QLabel(objectName="status_followups")
        self.statusBar().addPermanentWidget(self.followup_counts)
        self.counts = QLabel(objectName="status_counts")
        self.statusBar().addPermanentWidget(self.counts)
        self.team_status = QLabel(objectName="status_team")
        self.statusBar().addPermanentWidget(self.team_status)

        self._make_actions()
        self.patients.view.doubleClicked.connect(lambda _i: self.open_selected())
        self.patients.view.activated.connect(lambda _i: self.open_selected())
        self.patients.view.selectionModel().currentRowChanged.connect(self._selection_changed)
        self.patients.open_requested.connect(lambda rid: self.open_record(rid))
        self.deleted.restore.clicked.connect(self.restore_selected)
        self.duplicates.compare.clicked.connect(self.compare_selected)
        self.duplicates.view.doubleClicked.connect(lambda _i: self.compare_selected())
        self.pages.currentChanged.connect(self._page_changed)
        self.followups.open_record_requested.connect(
            lambda rid, tab: self.open_record(rid, tab=tab)
        )
        self.followups.counts_changed.connect(self._followup_counts_changed)
        self.kpi.open_record_requested.connect(lambda rid, tab: self.open_record(rid, tab=tab))
        self.kpi.report_saved.connect(
            lambda path, pages: self.statusBar().showMessage(
                f"KPI report saved: {path} ({pages} pages).", 8000
            )
        )
        self.followups.records_changed.connect(self.refresh)
        self.outbox.uploaded.connect(lambda _batch: self.refresh_export_age())
        self.outbox.changed.connect(lambda _batch: self.refresh_export_age())

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(400)
        self._refresh_timer.timeout.connect(self._refresh_safely)
        minutes = float(store.get_setting("idle_lock_minutes", 10) or 10)
        self.idle = IdleWatcher(minutes, clock, self)
        self.idle.idle.connect(lambda: self.lock(idle=True))
        # Others' changes (other PCs, a command) show within seconds: see ui/refresh.py.
        self.watcher = ChangeWatcher(store.change_token, parent=self)
        self.watcher.changed.connect(self.refresh_from_others)
        self.watcher.unreachable.connect(self._server_unreachable)
        self.watcher.reachable.connect(self._show_team_status)
        apply_role(self, store.role)
        self._show_team_status()
        self.refresh()
        self._selection_changed(QModelIndex())
        self.watcher.start()

    # -- building ------------------------------------------------------------------------------

    def _title(self) -> str:
        service = self.store.get_setting("service_name", "") or ""
        title = f"flsdesk — {service}" if service else "flsdesk"
        if self.store.is_team:
            # The address without its password, and who is signed in: never any patient detail.
            title += f" — {self.store.address_display} — {self.store.user} ({self.store.role})"
        return title

    def _show_team_status(self) -> None:
        if not self.store.is_team:
            self.team_status.hide()
            return
        self.team_status.setText(
            f"Team database {self.store.address_display} · signed in as {self.store.user}, "
            f"{role_text(self.store.role)}"
        )
        self.team_status.setStyleSheet("")
        self.team_status.show()

    def _server_unreachable(self, why: str) -> None:
        if not self.store.is_team:
            self.statusBar().showMessage(why, 8000)
            return
        self.team_status.setText(
            "The team database cannot be reached: the lists may be out of date. Trying again."
        )
        self.team_status.setToolTip(why)
        self.team_status.setStyleSheet("color: #b00020")
        self.team_status.show()

    def _action(
        self, text: str, slot: Callable[[], Any], shortcut: Any = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName("action_" + text.lower().replace(" ", "_").strip("…."))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def _make_actions(self) -> None:
        a = self._action
        self.act_new = a(
            "New record",
            self.new_record,
            QKeySequence.StandardKey.New,
            "Enter a new patient (Ctrl+N)",
        )
        self.act_find = a(
            "Find",
            self.focus_search,
            QKeySequence.StandardKey.Find,
            "Search by NHS number, name or hospital number (Ctrl+F)",
        )
        self.act_open = a("Open", self.open_selected, None, "Open the selected record (Enter)")
        self.act_delete = a(
            "Delete…",
            self.delete_selected,
            QKeySequence.StandardKey.Delete,
            "Delete the selected record, with a reason",
        )
        self.act_new_fracture = a(
            "New fracture for this patient",
            self.new_fracture,
            None,
            "A new record for the selected patient, with their details",
        )
        self.act_audit = a(
            "Audit trail",
            self.show_audit,
            None,
            "Every change to the selected record: who, when, old and new value",
        )
        self.act_followups = a(
            "Follow-ups",
            lambda: self.show_page(FOLLOWUPS),
            None,
            "16- and 52-week follow-ups due or overdue",
        )
        self.act_kpis = a(
            "KPI dashboard",
            lambda: self.show_page(KPIS),
            None,
            "The FLS-DB KPIs for a report year: who missed each, data completeness, the deadline",
        )
        self.act_kpi_report = a(
            "Save KPI report as PDF…",
            self.save_kpi_report,
            None,
            "The KPI report for a governance meeting (figures only unless you ask for the lists)",
        )
        self.act_deleted = a(
            "Deleted records",
            lambda: self.show_page(DELETED),
            None,
            f"Records deleted in the last {RETENTION_DAYS} days, to restore",
        )
        self.act_duplicates = a(
            "Possible duplicates",
            lambda: self.show_page(DUPLICATES),
            None,
            "Records sharing an NHS number and date of diagnosis",
        )
        self.act_export = a(
            "Export for FLS-DB",
            self.show_export,
            "Ctrl+E",
            "Prepare the FLS-DB import file: everything new or changed since "
            "the last export (one click to the report, one more to save)",
        )
        self.act_outbox = a(
            "Outbox",
            lambda: self.show_page(OUTBOX),
            None,
            "Every export and whether it was uploaded",
        )
        self.act_import = a(
            "Import…",
            self.show_import,
            None,
            "Bring records in from an FLS-DB import CSV or a webtool export "
            "(a dry-run report first; nothing changes until you apply)",
        )
        self.act_optout = a(
            "National Data Opt-out…",
            self.show_optout,
            None,
            "List the NHS numbers to check; read back the opted-out list",
        )
        self.act_settings = a("Settings…", self.show_settings, None, "Service settings")
        self.act_this_computer = a(
            "This computer's database…",
            self.show_this_computer,
            None,
            "This computer's own store or the team's database, and its certificate file",
        )
        self.act_about = a(
            "About flsdesk", self.show_about, None, "Versions and the definition files in use"
        )
        self.act_lock = a(
            "Lock now",
            lambda: self.lock(),
            "Ctrl+L",
            "Hide everything until someone gives their initials and the passphrase",
        )
        self.act_quit = a("Quit", self.close, QKeySequence.StandardKey.Quit)

        file_menu = self.menuBar().addMenu("&File")
        for act in (
            self.act_new,
            self.act_new_fracture,
            self.act_settings,
            self.act_this_computer,
            self.act_lock,
        ):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        fls_menu = self.menuBar().addMenu("FLS-&DB")
        for act in (self.act_export, self.act_outbox, self.act_import, self.act_optout):
            fls_menu.addAction(act)
        fls_menu.addAction(self.act_kpi_report)
        record_menu = self.menuBar().addMenu("&Record")
        for act in (self.act_open, self.act_find, self.act_delete, self.act_audit):
            record_menu.addAction(act)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.act_followups)
        view_menu.addAction(self.act_kpis)
        view_menu.addAction(self.act_deleted)
        view_menu.addAction(self.act_duplicates)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.act_about)

        bar = QToolBar("Main", objectName="main_toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for act in (self.act_new, self.act_find, self.act_delete):
            bar.addAction(act)
        bar.addSeparator()
        bar.addAction(self.act_export)
        bar.addSeparator()
        for act in (self.act_followups, self.act_kpis, self.act_deleted, self.act_duplicates):
            bar.addAction(act)
        bar.addSeparator()
        bar.addAction(self.act_settings)
        self.addToolBar(bar)
        self.toolbar = bar

    # -- refreshing ----------------------------------------------------------------------------

    def schedule_refresh(self) -> None:
        """Refresh soon: autosaves come every second while someone types; one refresh serves."""
        self._refresh_timer.start()

    def refresh_from_others(self) -> None:
        """Someone else changed records: re-read the lists, keeping the place in them."""
        bar = self.patients.view.verticalScrollBar()
        where = bar.value()
        if self._refresh_safely():
            self.outbox.refresh()
        bar.setValue(where)

    def _refresh_safely(self) -> bool:
        """Refresh from a timer: the team database going away meanwhile is said in the status
        bar (the lists stay as they were), not reported as a failure of flsdesk."""
        try:
            self.refresh()
        except StoreError as exc:
            log.warning("lists not refreshed: %s", type(exc).__name__)
            self._server_unreachable(str(exc))
            return False
        return True

    def refresh(self) -> None:
        # Before reading: a change landing while the lists are read is picked up by the next poll.
        self.watcher.mark_seen()
        current = self.patients.selected_id()
        self.patients.model.refresh()
        self.followups.refresh()
        if current is not None:
            row = self.patients.model.row_of(current)
            if row >= 0:
                self.patients.view.selectRow(row)
        self.refresh_counts()
        self.kpi.mark_stale()
        if self.pages.currentWidget() is self.deleted:
            self.refresh_deleted()
        if self.pages.currentWidget() is self.duplicates:
            self.refresh_duplicates()

    def refresh_counts(self) -> None:
        self.refresh_export_age()
        self.deadline.setText(deadline_status(self.store.today(), self.kpi.kpis))
        s = StoreQueries(self.store).summary()
        self.counts.setText(
            f"{s.total} records · {s.drafts} drafts · {s.needs_correction} need correction"
            + (f" · {s.deleted} deleted" if s.deleted else "")
        )
        self.pages.setTabText(self.pages.indexOf(self.duplicates), "Possible duplicates")

    def _followup_counts_changed(self, counts: dict) -> None:
        due, overdue = counts.get("due", 0), counts.get("overdue", 0)
        self.pages.setTabText(
            self.pages.indexOf(self.followups), f"Follow-ups ({due + overdue} due or overdue)"
        )
        self.followup_counts.setText(f"Follow-ups: {due} due · {overdue} overdue")

    def refresh_export_age(self) -> None:
        age = export.sending_age(self.store, self.store.today())
        self.export_age.setText(age.text)
        self.export_age.setStyleSheet("color: #b00020" if age.overdue else "")

    def refresh_deleted(self) -> None:
        self.deleted.model.set_items(self.store.deleted_records())

    def refresh_duplicates(self) -> None:
        pairs = self.store.possible_duplicates()
        ids = {i for p in pairs for i in (p.first, p.second)}
        rows = StoreQueries(self.store).rows_for(sorted(ids))
        self.duplicates.model.set_items([(rows[p.first], rows[p.second]) for p in pairs])
        self.pages.setTabText(
            self.pages.indexOf(self.duplicates), f"Possible duplicates ({len(pairs)})"
        )

    def _page_changed(self, _index: int) -> None:
        page = self.pages.currentWidget()
        if page is self.deleted:
            self.refresh_deleted()
        elif page is self.duplicates:
            self.refresh_duplicates()
        self._selection_changed(QModelIndex())

    def _selection_changed(self, _index: QModelIndex) -> None:
        on_list = self.pages.currentWidget() is self.patients
        has = on_list and self.patients.selected_id() is not None
        for act in (self.act_open, self.act_delete, self.act_new_fracture, self.act_audit):
            act.setEnabled(has and act not in self.forbidden_actions)

    def show_page(self, which: str) -> None:
        page = {
            PATIENTS: self.patients,
            FOLLOWUPS: self.followups,
            KPIS: self.kpi,
            OUTBOX: self.outbox,
            DELETED: self.deleted,
            DUPLICATES: self.duplicates,
        }
        self.pages.setCurrentWidget(page[which])

    def focus_search(self) -> None:
        self.show_page(PATIENTS)
        self.patients.search.setFocus()
        self.patients.search.selectAll()

    # -- record actions ------------------------------------------------------------------------

    def open_record(
        self, record_id: int | None, prefill: dict[str, Any] | None = None, tab: str | None = None
    ) -> QWidget | None:
        """Open the record form (or, without it, the read-only view); None when the store
        cannot give the record now (the team database cannot be reached)."""
        for open_window in self.open_windows:
            # One window per record: a second, stale copy could only lose someone's save.
            if record_id is not None and getattr(open_window, "record_id", None) == record_id:
                open_window.bring_to_front(tab)  # type: ignore[attr-defined]
                return open_window
        try:
            from flsdesk_ui.form.window import RecordWindow
        except ImportError:
            RecordWindow = None
        if RecordWindow is None:
            if record_id is None:
                record_id = self.store.new_record(prefill or {})
                self.refresh()
            window: QWidget = RecordDialog(self.store, [record_id], self)
        else:
            try:
                window = RecordWindow(self.store, record_id=record_id, prefill=prefill, tab=tab)
            except StoreError as exc:  # the team database away: say so, plainly
                QMessageBox.warning(self, "The record cannot be opened", str(exc))
                return None
            window.saved.connect(lambda _rid: self.schedule_refresh())
            window.open_record_requested.connect(lambda rid: self.open_record(rid))
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.destroyed.connect(lambda *_: self._forget(window))
        self.open_windows.append(window)
        window.show()
        return window

    def _forget(self, window: QWidget) -> None:
        if window in self.open_windows:
            self.open_windows.remove(window)

    def new_record(self) -> None:
        self.open_record(None)

    def open_selected(self) -> None:
        if self.pages.currentWidget() is self.duplicates:
            self.compare_selected()
            return
        record_id = self.patients.selected_id()
        if record_id is not None:
            self.open_record(record_id)

    def new_fracture(self) -> None:
        record_id = self.patients.selected_id()
        if record_id is None:
            return
        self.open_record(None, prefill=new_fracture_prefill(self.store, record_id))

    def delete_selected(self) -> None:
        record_id = self.patients.selected_id()
        if record_id is None:
            return
        row = StoreQueries(self.store).row(record_id)
        description = "Record " + " ".join(
            p for p in (str(record_id), nhs_for_people(row.nhs_number), row.name or "") if p
        )
        dialog = DeleteDialog(description, self)
        if dialog.exec():
            self.store.delete(record_id, dialog.chosen_reason, dialog.chosen_note)
            log.info("record %d deleted from the list", record_id)
            self.statusBar().showMessage(
                f"Record {record_id} deleted ({dialog.chosen_reason}). "
                f"It can be restored from Deleted records for {RETENTION_DAYS} days.",
                8000,
            )
            self.refresh()

    def restore_selected(self) -> None:
        item = self.deleted.selected()
        if item is None:
            return
        self.store.restore(item.id)
        self.statusBar().showMessage(f"Record {item.id} restored.", 8000)
        self.refresh_deleted()
        self.refresh()

    def compare_selected(self) -> None:
        pair = self.duplicates.selected()
        if pair is None:
            return
        dialog = RecordDialog(self.store, [pair[0].id, pair[1].id], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.open_windows.append(dialog)
        dialog.destroyed.connect(lambda *_: self._forget(dialog))
        dialog.show()

    def show_audit(self) -> None:
        record_id = self.patients.selected_id()
        if record_id is not None:
            AuditDialog(self.store, record_id, self).exec()

    def show_settings(self) -> None:
        if SettingsDialog(self.store, self).exec():
            self.setWindowTitle(self._title())
            self.idle.minutes = float(self.store.get_setting("idle_lock_minutes", 10) or 10)
            self.statusBar().showMessage("Settings saved.", 5000)

    def show_this_computer(self) -> None:
        if edit_this_computer(self.paths, self):
            self.statusBar().showMessage(
                "Saved: this computer's database changes at the next start of flsdesk.", 8000
            )

    def _track(self, window: QWidget) -> QWidget:
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.open_windows.append(window)
        window.destroyed.connect(lambda *_: self._forget(window))
        window.show()
        return window

    def show_export(self) -> QWidget:
        dialog = ExportDialog(self.store, self)
        dialog.open_record_requested.connect(lambda rid: self.open_record(rid))
        dialog.exported.connect(lambda _batch: (self.outbox.refresh(), self.refresh_export_age()))
        dialog.uploaded.connect(lambda _batch: (self.outbox.refresh(), self.refresh_export_age()))
        # The opt-out tools one click from the report; the report follows what they mark.
        dialog.optout_requested.connect(lambda: self._optout_for(dialog))
        return self._track(dialog)

    def _optout_for(self, export_dialog: ExportDialog) -> None:
        optout_dialog = self.show_optout()
        optout_dialog.records_changed.connect(export_dialog.prepare)  # type: ignore[attr-defined]

    def show_import(self) -> QWidget:
        dialog = ImportDialog(self.store, self)
        dialog.imported.connect(self.refresh)
        return self._track(dialog)

    def show_optout(self) -> QWidget:
        dialog = OptoutDialog(self.store, self)
        dialog.open_record_requested.connect(lambda rid: self.open_record(rid))
        dialog.records_changed.connect(self.schedule_refresh)
        return self._track(dialog)

    def save_kpi_report(self) -> None:
        """The dashboard's "Save report as PDF", once its figures for the picked year are in."""
        self.show_page(KPIS)
        self.kpi.save_pdf_when_ready()

    def show_about(self) -> None:
        AboutDialog(self.store, self.paths, self).exec()

    # -- locking -------------------------------------------------------------------------------

    def start_idle_watch(self, app: Any) -> None:
        self.idle.start(app)

    def lock(self, idle: bool = False) -> None:
        """Hide every patient detail until the passphrase is given again; ``idle`` when the
        idle timer locked it, not the user."""
        if self.is_locked:
            return  # one lock, one unlock dialog
        # The idle timer must not lock again over a "Lock now" while the dialog is open.
        self.idle.paused = True
        self.locked_when_idle = idle
        # Saved under the name of whoever typed it, before someone else may unlock.
        for window in list(self.open_windows):
            flush = getattr(window, "flush", None)
            if flush is not None:
                flush()
            window.hide()
        # A dialog left open (audit trail, delete, settings) would show patient details over
        # the locked window: cancel it; nothing in it was saved yet.
        for dialog in self.findChildren(QDialog):
            if dialog.isVisible() and dialog not in self.open_windows:
                dialog.reject()
        self.locked.setText(
            team_relock_message(idle, self.store.user)
            if self.store.is_team
            else relock_message(idle)
        )
        self.stack.setCurrentWidget(self.locked)
        self.menuBar().setEnabled(False)
        self.toolbar.setEnabled(False)
        log.info("window locked (%s)", "idle" if idle else "lock now")
        if self._unlock is not None:
            QTimer.singleShot(0, self._ask_unlock)

    def _ask_unlock(self) -> None:
        assert self._unlock is not None
        while not (initials := self._unlock(self, self.locked_when_idle)):
            answer = QMessageBox.question(
                self,
                "flsdesk is locked",
                "flsdesk stays locked. Quit flsdesk? (Everything is already saved.)",
            )
            if answer == QMessageBox.StandardButton.Yes:
                self.close()
                return
        self.unlock_done(initials)

    def unlock_done(self, initials: str | None = None) -> None:
        """Show everything again; from now on the audit trail names ``initials`` (all open
        record windows save through the one store, so they follow)."""
        if initials and not self.store.is_team:  # a team store names its signed-in user
            user = session.audit_user(initials)
            if user != self.store.user:
                for window in self.open_windows:
                    # The reason the one before gave for changing a sent record does not
                    # cover the changes of the one who goes on: they are asked their own.
                    if getattr(window, "edit_reason", None) is not None:
                        window.edit_reason = None  # type: ignore[attr-defined]
            self.initials = initials
            self.store.set_user(user)
            self.statusBar().showMessage(
                f"Unlocked: changes are now recorded as {initials.upper()}.", 8000
            )
        self.stack.setCurrentWidget(self.pages)
        self.menuBar().setEnabled(True)
        self.toolbar.setEnabled(True)
        for window in self.open_windows:
            window.show()
        self.idle.resume()
        log.info("window unlocked")

    @property
    def is_locked(self) -> bool:
        return self.stack.currentWidget() is self.locked

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.watcher.stop()  # the store closes after the window: no poll may run on it
        self.kpi.wait()
        for window in list(self.open_windows):
            flush = getattr(window, "flush", None)
            if flush is not None:
                flush()
            window.close()
        event.accept()
