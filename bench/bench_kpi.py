"""The KPIs over the benchmark caseload (issue 15).

Targets: all 11 KPIs with the monthly series and the four breakdowns for one audit year over the
50,000-record store in under 1 s (median); the "missed" list of any KPI in under 200 ms. The
baseline, measured in the same run and taking turns with the KPIs so both see the same load on
the machine: plain ``sqlite3`` fetching the same rows (the period's live records with the
columns the KPIs read, answers included) from an unencrypted copy of the store; the ratio is
KPIs / baseline.

The "missed" list is timed two ways: from the store (``engine.missed``: reads and decodes the
period's records again; what the command line does), and from a computed report
(``KpiReport.missed``: what the dashboard does when a KPI is clicked, after computing the
report). Both are reported for the slowest KPI.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bench.__main__ import Result
from bench.bench_export import _plain_copy
from bench.caseload import Caseload
from flsdesk.dataset import load_definitions
from flsdesk.kpi import completeness, engine
from flsdesk.paths import resolve
from flsdesk.store import settings as store_settings
from flsdesk.store.store import Store

BENCH_KEY = bytes(range(180, 212))  # throw-away key for a throw-away store
RUNS = 5
LIST_KPIS = (3, 4, 5, 6, 7, 8, 9, 10, 11)


def _baseline(plain_db: Path, period: engine.Period) -> tuple[float, int]:
    start = time.perf_counter()
    conn = sqlite3.connect(plain_db)
    try:
        rows = conn.execute(
            "SELECT id, nhs_number, diagnosed, date_of_birth, gender, has_errors, dataset_id, "
            "answers FROM records WHERE deleted_at IS NULL AND diagnosed IS NOT NULL "
            "AND diagnosed >= ? AND diagnosed <= ? ORDER BY diagnosed, id",
            (period.start.isoformat(), period.end.isoformat()),
        ).fetchall()
    finally:
        conn.close()
    return time.perf_counter() - start, len(rows)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    n = records or (2_000 if quick else 50_000)
    definitions = load_definitions()
    today = date.today()
    caseload = list(Caseload(definitions.latest, seed=2024, today=today).records(n))
    period = engine.Period.year(today.year - 1)  # the last whole audit year
    with tempfile.TemporaryDirectory(prefix="flsdesk-bench-kpi-") as tmp:
        folder = Path(tmp)
        paths = resolve(folder / "store")
        with Store.create(
            paths, BENCH_KEY, "BM (bench)", "Bench FLS", definitions=definitions
        ) as s:
            s.bulk_insert(caseload)
            s.set_setting(store_settings.ESTIMATED_ANNUAL_CASELOAD, 9000)
        plain_db = folder / "plain.db"
        _plain_copy(paths.database, BENCH_KEY, plain_db)
        store = Store.open(paths, BENCH_KEY, "BM (bench)", definitions=definitions)
        try:
            report = engine.compute(store, period, today)  # warm the page cache, as a second look
            kpis: list[float] = []
            floors: list[float] = []
            fetched = 0
            for _ in range(RUNS):
                kpis.append(_timed(lambda: engine.compute(store, period, today)))
                floor, fetched = _baseline(plain_db, period)
                floors.append(floor)
            from_store: dict[int, float] = {}
            from_report: dict[int, float] = {}
            sizes: dict[int, int] = {}
            for k in LIST_KPIS:
                from_store[k] = statistics.median(
                    _timed(lambda k=k: engine.missed(store, k, period, today)) for _ in range(3)
                )
                from_report[k] = statistics.median(
                    _timed(lambda k=k: report.missed(k)) for _ in range(3)
                )
                sizes[k] = len(report.missed(k))
            gaps = statistics.median(
                _timed(lambda: completeness.completeness(store, period, today)) for _ in range(3)
            )
        finally:
            store.close()
    kpi_s = statistics.median(kpis)
    floor_s = statistics.median(floors)
    slow = max(from_store, key=lambda k: from_store[k])
    slow_report = max(from_report, key=lambda k: from_report[k])
    return [
        Result(
            f"KPIs 1-11, monthly + breakdowns, {period.start.year}",
            kpi_s,
            1.0,
            ratio=kpi_s / floor_s,
            note=f"{report.records_counted:,} records counted of {n:,}; ratio = KPIs / baseline",
        ),
        Result(
            "  baseline: sqlite3 fetching the same rows",
            floor_s,
            note=f"{fetched:,} rows, unencrypted copy, same run",
        ),
        Result(
            "missed list, slowest KPI, from the store",
            from_store[slow],
            0.200,
            ratio=from_store[slow] / floor_s,
            note=f"KPI {slow}, {sizes[slow]:,} records; reads the year again (the CLI)",
        ),
        Result(
            "missed list, slowest KPI, from the report",
            from_report[slow_report],
            0.200,
            note=f"KPI {slow_report}, {sizes[slow_report]:,} records (the dashboard's click)",
        ),
        Result("completeness table, one year", gaps, note="per lite question, worst first"),
    ]
