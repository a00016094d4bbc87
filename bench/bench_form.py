"""The record form on a full store: open a record, react to a changed answer, save on leaving.

Targets (issue 5), with the 50,000-record caseload: opening a record under 100 ms; the reaction to
a changed answer (rules + showing/hiding) within 16 ms, one frame; a field saved within 50 ms of
leaving it. Qt runs offscreen; the widgets, the rules and the encrypted store are the real ones.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QListWidget

from bench.__main__ import Result
from bench.caseload import Caseload
from flsdesk.dataset import load_definitions
from flsdesk.paths import resolve
from flsdesk.store.store import Store

BENCH_KEY = bytes(range(140, 172))  # throw-away key for a throw-away store


def _app() -> QApplication:
    app = QApplication.instance()
    return app if isinstance(app, QApplication) else QApplication([])


def _settle(app: QApplication) -> None:
    app.processEvents()
    app.processEvents()


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    from flsdesk_ui.form.window import RecordWindow

    n = records or (2_000 if quick else 50_000)
    samples = 10 if quick else 40
    app = _app()
    definitions = load_definitions()
    definition = definitions.latest
    caseload = list(Caseload(definition, seed=2025).records(n))
    role = definition.role
    sites = definition.roles["fracture_sites"]
    with tempfile.TemporaryDirectory(prefix="flsdesk-bench-form-") as tmp:
        paths = resolve(Path(tmp) / "data")
        with Store.create(paths, BENCH_KEY, "BM (bench)", "Bench FLS", definitions=definitions):
            pass
        store = Store.open(paths, BENCH_KEY, "BM (bench)", definitions=definitions)
        try:
            ids = store.bulk_insert(caseload)
            rng = random.Random(5)
            picks = [rng.choice(ids) for _ in range(samples)]

            # Warm-up: the first window pays for Qt's one-off style and font set-up.
            warm = RecordWindow(store, record_id=picks[0])
            warm.show()
            _settle(app)
            warm.close()
            warm.deleteLater()
            _settle(app)

            opening, complete, reacting, tab_switching, saving = [], [], [], [], []
            for record_id in picks:
                start = time.perf_counter()
                window = RecordWindow(store, record_id=record_id)
                window.show()
                _settle(app)  # laid out and painted once: what the person sees
                opening.append(time.perf_counter() - start)
                # The other tabs build themselves just after (one per event-loop turn).
                while not window.fully_built:
                    app.processEvents()
                complete.append(time.perf_counter() - start)

                # A changed answer that hides and shows questions: 1.11 Hip ↔ Wrist (6.06).
                site = window.findChild(QComboBox, "q_" + sites[0].replace(".", "_"))
                for label in ("Hip", "Wrist"):
                    index = site.findText(label)
                    start = time.perf_counter()
                    site.setCurrentIndex(index)  # the same signal a key or a click sends
                    reacting.append(time.perf_counter() - start)

                # A larger one: 4.01 flips the whole Follow-up tab.
                therapy = window.findChild(
                    QListWidget, "q_" + role("bone_therapy").replace(".", "_")
                )
                item = next(
                    therapy.item(i)
                    for i in range(therapy.count())
                    if therapy.item(i).text() == "Inappropriate"
                )
                for state in (Qt.CheckState.Checked, Qt.CheckState.Unchecked):
                    start = time.perf_counter()
                    item.setCheckState(state)
                    tab_switching.append(time.perf_counter() - start)

                # Leaving a typed field: Tab out of the post code field saves at once.
                window.activateWindow()
                _settle(app)
                edit = window.findChild(QLineEdit, "q_1_04")
                edit.setFocus()
                _settle(app)
                QTest.keyClicks(edit, "ZZ9")
                start = time.perf_counter()
                QTest.keyClick(edit, Qt.Key.Key_Tab)
                saving.append(time.perf_counter() - start)
                if window.pending:
                    raise RuntimeError("leaving the field did not save it")

                window.close()
                window.deleteLater()
                _settle(app)
        finally:
            store.close()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def worst(values: list[float]) -> str:
        return f"max {max(values) * 1000:.1f} ms over {len(values)}"

    return [
        Result(
            "form: open a record",
            med(opening),
            0.100,
            note=f"{n:,} records; first tab shown; {worst(opening)}",
        ),
        Result(
            "form: open, every tab built",
            med(complete),
            None,
            note=f"the rest built in the background; {worst(complete)}",
        ),
        Result(
            "form: react to an answer (1.11)",
            med(reacting),
            0.016,
            note=f"rules + duplicate look-up + show/hide; {worst(reacting)}",
        ),
        Result(
            "form: react to an answer (4.01)",
            med(tab_switching),
            0.016,
            note=f"whole Follow-up tab; {worst(tab_switching)}",
        ),
        Result(
            "form: field saved on leaving",
            med(saving),
            0.050,
            note=f"Tab out → store.save (fsync); {worst(saving)}",
        ),
    ]
