"""Writes the README's screenshots of the shell into docs/screenshots/ (offscreen, invented data).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py

Every patient shown is invented by the seeded caseload generator; nothing here is real.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from bench.caseload import Caseload  # noqa: E402
from flsdesk.paths import resolve  # noqa: E402
from flsdesk.store import keys  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSPHRASE = "amber kettle walrus orbit"


def save(widget: QWidget, name: str) -> None:
    QApplication.processEvents()
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    keys.kdf_params = keys.TEST_KDF  # screenshots only: no need to spend 0.4 s per unlock
    app = QApplication.instance() or QApplication(sys.argv)
    from flsdesk_ui.main_window import MainWindow
    from flsdesk_ui.unlock import UnlockDialog
    from flsdesk_ui.wizard import SetupWizard

    with tempfile.TemporaryDirectory() as tmp:
        paths = resolve(tmp)
        wizard = SetupWizard(paths)
        wizard.show()
        wizard.service_page.site.setText("Northtown Fracture Liaison Service")
        wizard.service_page.org.setText("RXX01")
        wizard.service_page.initials.setText("JP")
        save(wizard, "wizard-service")
        wizard.next()
        wizard.passphrase_page.first.setText(PASSPHRASE)
        wizard.passphrase_page.second.setText(PASSPHRASE)
        save(wizard, "wizard-passphrase")
        wizard.next()
        save(wizard, "wizard-recovery")
        store = wizard.store
        assert store is not None
        wizard.recovery_page.confirm.setChecked(True)
        wizard.accept()

        definition = store.definitions.latest
        caseload = Caseload(definition, seed=7, today=date.today())
        records = list(caseload.records(240))
        # The last year's follow-ups not yet recorded: they make the worklist.
        sections = {definition.role(r).split(".")[0] + "." for r in ("followup_16", "followup_52")}
        recent = (date.today() - timedelta(days=420)).isoformat()
        for i, answers in enumerate(records):
            if answers.get(definition.role("diagnosed"), "") >= recent:
                for key in [k for k in answers if k.startswith(tuple(sections))]:
                    del answers[key]
            if "contact_phone" in definition.roles:  # invented numbers (Ofcom's drama range)
                answers[definition.role("contact_phone")] = f"0113 496 {i:04d}"
        store.bulk_insert(records)

        dialog = UnlockDialog(paths, None, "JP")
        dialog.show()
        save(dialog, "unlock")
        dialog.close()

        window = MainWindow(store, paths, "JP")
        window.resize(1180, 680)
        window.show()
        save(window, "main-window")
        window.patients.search.setText("ash")
        save(window, "main-window-search")
        window.patients.search.clear()
        window.show_page("followups")
        save(window, "followups")
        window.show_page("patients")

        dialog = window.show_export()
        loop = QEventLoop()
        dialog.report_ready.connect(loop.quit)
        QTimer.singleShot(20_000, loop.quit)  # never hang the script
        loop.exec()
        dialog.resize(1000, 620)
        save(dialog, "export-report")
        dialog.close()
        window.close()
        store.close()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
