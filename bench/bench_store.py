"""The store: create 50,000 records in bulk, save one, load one; encrypted versus plain SQLite.

Targets (issue 3): bulk creation under 60 s, one save and one load under 10 ms (median), and
SQLCipher costing under 1.5x plain SQLite for the same workload.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import Result
from bench.caseload import Caseload
from flsdesk.dataset import load_definitions
from flsdesk.paths import resolve
from flsdesk.store.store import Store

BENCH_KEY = bytes(range(100, 132))  # throw-away key for a throw-away store
SAMPLES = 200


def _median(fn: Any, args: list[Any]) -> float:
    times = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _workload(folder: Path, key: bytes | None, caseload: list[dict[str, Any]]) -> dict[str, float]:
    paths = resolve(folder)
    definitions = load_definitions(paths)
    out: dict[str, float] = {}
    with Store.create(paths, key, "BM (bench)", "Bench FLS", definitions=definitions) as store:
        start = time.perf_counter()
        ids = store.bulk_insert(caseload)
        out["bulk"] = time.perf_counter() - start
    start = time.perf_counter()
    store = Store.open(paths, key, "BM (bench)", definitions=definitions)
    out["open"] = time.perf_counter() - start
    try:
        rng = random.Random(7)
        for rid in ids[:: max(1, len(ids) // 50)]:  # warm the page cache before timing
            store.load(rid)
        picks = [rng.choice(ids) for _ in range(SAMPLES)]
        out["load"] = _median(store.load, picks)

        edits = []
        for rid in (rng.choice(ids) for _ in range(SAMPLES)):
            answers = store.load(rid).answers
            answers["notes"] = f"bench edit {rng.random():.6f}"
            edits.append((rid, answers))
        out["save"] = _median(lambda e: store.save(e[0], e[1], reason="benchmark"), edits)

        def load_and_save(rid: int) -> None:
            answers = store.load(rid).answers
            answers["notes"] = f"bench edit {rng.random():.6f}"
            store.save(rid, answers, reason="benchmark")

        out["load+save"] = _median(load_and_save, [rng.choice(ids) for _ in range(SAMPLES)])
        # A whole-store query, as the duplicates view runs it.
        out["list"] = _median(lambda _: store.possible_duplicates(), list(range(5)))
    finally:
        store.close()
    return out


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    n = records or (2_000 if quick else 50_000)
    definitions = load_definitions()
    start = time.perf_counter()
    caseload = list(Caseload(definitions.latest, seed=2024).records(n))
    generated = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="flsdesk-bench-") as tmp:
        enc = _workload(Path(tmp) / "encrypted", BENCH_KEY, caseload)
        plain = _workload(Path(tmp) / "plain", None, caseload)
    scale = n / 50_000

    def result(
        name: str, key: str, target: float | None, note: str = "", ratio_target: float | None = 1.5
    ) -> Result:
        return Result(
            name,
            enc[key],
            target,
            ratio=enc[key] / plain[key] if plain[key] else None,
            ratio_target=ratio_target,
            note=note,
        )

    return [
        Result(f"generate {n:,} records", generated, note="seeded synthetic caseload"),
        result(f"bulk insert {n:,}", "bulk", 60.0 * scale, "one transaction, executemany"),
        result("save one (median)", "save", 0.010, "evaluate + write + audit"),
        result("load one (median)", "load", 0.010),
        result("load then save (median)", "load+save", None, "what the form does"),
        result("open store", "open", None, "after the key: migrate, purge, refresh", None),
        result("possible duplicates", "list", None, f"self-join over {n:,}"),
    ]
