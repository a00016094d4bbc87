"""Screenshots of the record form: every tab, for two invented patients (a hip, a wrist).

    python scripts/screenshots_form.py [--out docs/screenshots]

Runs offscreen against a throw-away encrypted store in a temporary folder; nothing touches the
user's data. The patients are invented: names from nowhere, NHS numbers made up (valid
Modulus 11, as the form checks them).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication

from flsdesk.paths import resolve
from flsdesk.store.store import Store


def _nhs(body: str) -> str:
    """A made-up NHS number: nine digits and their Modulus 11 check digit."""
    total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10:
        raise ValueError("pick another body: check digit 10")
    return body + str(check)


def _iso(day: date) -> str:
    return day.isoformat()


def patients(today: date) -> dict[str, dict[str, Any]]:
    hip_day = today - timedelta(days=95)  # 16-week follow-up due soon: a realistic draft
    wrist_day = today - timedelta(days=420)  # both follow-ups done
    return {
        "hip": {
            "1.01": _nhs("450557710"),
            "1.02": "1941-06-12",
            "1.03": "Female",
            "1.04": "LS6 2QP",
            "1.05": "No",
            "1.06": _iso(hip_day + timedelta(days=3)),
            "1.07": _iso(hip_day + timedelta(days=9)),
            "1.08": "Yes",
            "1.09": _iso(hip_day),
            "1.10": "Clinical",
            "1.11": "Hip",
            "name": "Margaret Holloway",
            "hospital_number": "RX0417733",
            "notes": "Lives alone; daughter visits daily. Prefers morning appointments.",
            "optout_status": "Checked, not opted out",
            "optout_date": _iso(hip_day + timedelta(days=9)),
            "2.01": 158,
            "2.02": 52.4,
            "2.03": "Yes",
            "2.04": "Don't know",
            "2.05": "No",
            "2.06": "No",
            "3.01": "Ordered or recommended",
            "3.03": _iso(hip_day + timedelta(days=30)),
            "3.04": -2.9,
            "4.01": ["Zoledronate"],
            "4.02": "Calcium and vitamin D combined",
            "5.01": "Assessed by FLS",
            "5.02": "Yes",
            "5.03": "Yes",
            "5.04": "Yes",
            "5.05": "With aid",
            "5.06": "No",
            "5.07": "Don't know",
            "5.08": "No",
            "5.09": "No",
            "5.10": ["Falls service", "Physiotherapy"],
        },
        "wrist": {
            "1.01": _nhs("401023212"),
            "1.02": "1958-02-23",
            "1.03": "Male",
            "1.04": "B12 9QS",
            "1.05": "No",
            "1.06": _iso(wrist_day + timedelta(days=12)),
            "1.07": _iso(wrist_day + timedelta(days=26)),
            "1.08": "No",
            "1.09": _iso(wrist_day),
            "1.10": "Clinical",
            "1.11": "Wrist",
            "name": "Rajesh Kumar",
            "hospital_number": "RX0522981",
            "optout_status": "Checked, not opted out",
            "optout_date": _iso(wrist_day + timedelta(days=26)),
            "2.01": 171.5,
            "2.02": 78,
            "2.03": "No",
            "2.04": "No",
            "2.05": "Yes",
            "2.06": "No",
            "3.01": "Ordered or recommended",
            "3.03": "Patient did not attend",
            "4.01": ["Alendronate"],
            "4.02": "Vitamin D only",
            "5.01": "Referred for falls assessment",
            "6.01": "Yes",
            "6.02": _iso(wrist_day + timedelta(days=110)),
            "6.03": "Yes",
            "6.04": "Yes",
            "6.05": "Alendronate",
            "6.06": "No",
            "7.01": "Yes",
            "7.02": _iso(wrist_day + timedelta(days=365)),
            "7.03": "Yes",
            "7.04": "Yes",
            "7.05": "Alendronate",
            "7.06": 0,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "docs/screenshots")
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from flsdesk_ui.form.window import RecordWindow

    app = QApplication.instance() or QApplication([])
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="flsdesk-screens-") as tmp:
        paths = resolve(Path(tmp) / "data")
        key = secrets.token_bytes(32)  # a throw-away store: the key is never kept
        with Store.create(paths, key, "SC (screens)", "Demo FLS", "RX1") as store:
            for slug, answers in patients(store.today()).items():
                record_id = store.new_record(answers)
                window = RecordWindow(store, record_id=record_id)
                window.resize(1180, 1020)
                window.show()
                window.ensure_built()
                app.processEvents()
                for tab in store.definitions.latest.tabs:
                    window.show_tab(tab.id)
                    for _ in range(3):
                        app.processEvents()
                    target = out / f"form-{slug}-{tab.id}.png"
                    window.grab().save(str(target))
                    written.append(target)
                window.close()
                window.deleteLater()
                app.processEvents()
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
