"""Import: a 50,000-row file into an empty store, and the dry run of the same file.

Targets (issue 7): the import (dry run then apply, as ``flsdesk import FILE`` does) under 60 s;
the dry run alone under 30 s. Also timed, without a target: the same file again into the filled
store, where every row matches a record and is unchanged.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import Result
from bench.caseload import Caseload
from flsdesk.dataset import Definition, load_definitions, parse_iso_date
from flsdesk.exchange import importer
from flsdesk.exchange.profiles import load_export_profile
from flsdesk.paths import resolve
from flsdesk.rules import format_number
from flsdesk.store.store import Store

BENCH_KEY = bytes(range(100, 132))  # throw-away key for a throw-away store


def _cell(definition: Definition, key: str, value: Any) -> str:
    q = definition.questions[key]
    if isinstance(value, list):
        order = {a.label: i for i, a in enumerate(q.answers)}
        return ";".join(sorted(value, key=lambda v: order.get(v, len(order))))
    if q.type == "date":
        parsed = parse_iso_date(value)
        return parsed.strftime("%d/%m/%Y") if parsed else str(value)
    if q.type == "number":
        return format_number(value)
    return str(value)


def write_file(path: Path, definition: Definition, caseload: list[dict[str, Any]]) -> int:
    """The caseload as the webtool's import CSV (number-and-short-name header, dd/mm/yyyy)."""
    columns = definition.exported_questions
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow([f"{q.key} {q.short_name}" for q in columns])
        for answers in caseload:
            w.writerow(
                [
                    _cell(definition, q.key, answers[q.key]) if q.key in answers else ""
                    for q in columns
                ]
            )
    return path.stat().st_size


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    n = records or (2_000 if quick else 50_000)
    scale = n / 50_000
    definitions = load_definitions()
    profile = load_export_profile()
    caseload = list(Caseload(definitions.latest, seed=2024).records(n))
    with tempfile.TemporaryDirectory(prefix="flsdesk-bench-") as tmp:
        folder = Path(tmp)
        size = write_file(folder / "import.csv", definitions.latest, caseload)
        paths = resolve(folder / "store")
        with Store.create(paths, BENCH_KEY, "BM (bench)", "Bench FLS", definitions=definitions):
            pass
        with Store.open(paths, BENCH_KEY, "BM (bench)", definitions=definitions) as store:
            start = time.perf_counter()
            dry = importer.read_plan(store, folder / "import.csv", profile)
            dry_run = time.perf_counter() - start
            assert dry.unreadable is None, dry.unreadable

            start = time.perf_counter()
            plan = importer.read_plan(store, folder / "import.csv", profile)
            importer.apply(store, plan, skip_invalid=True)
            full = time.perf_counter() - start
            counts = plan.counts

            start = time.perf_counter()
            again = importer.read_plan(store, folder / "import.csv", profile)
            rerun = time.perf_counter() - start
    note = (
        f"{counts['new']:,} new, {counts['rejected']:,} rejected "
        f"(the caseload leaves 2% of answers blank, keys included), {size / 1e6:.1f} MB"
    )
    return [
        Result(f"import dry run {n:,} rows", dry_run, 30.0 * scale, note="empty store"),
        Result(f"import {n:,} rows", full, 60.0 * scale, note=f"dry run + apply; {note}"),
        Result(
            f"import dry run again ({n:,} unchanged)",
            rerun,
            None,
            note=f"{again.counts['unchanged']:,} rows match a record",
        ),
    ]
