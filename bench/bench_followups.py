"""The follow-up worklist over the benchmark caseload (issue 8).

Target: the worklist for a day (the default "open" list: upcoming, due and overdue) in under
100 ms (median) over 50,000 records, in the encrypted store. Also timed, without targets: the
counts per state (what the status bar shows), the list with missed follow-ups too, and the
patient list's "next follow-up" column for one page of 200 records.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.__main__ import Result
from bench.caseload import Caseload
from flsdesk import followups
from flsdesk.dataset import load_definitions
from flsdesk.paths import resolve
from flsdesk.store.store import Store

BENCH_KEY = bytes(range(140, 172))  # throw-away key for a throw-away store
RUNS = 25


def _median(fn: Callable[[], Any], runs: int = RUNS) -> float:
    fn()  # warm the page cache, as a second look at the list would
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    n = records or (2_000 if quick else 50_000)
    definitions = load_definitions()
    today = date.today()
    caseload = list(Caseload(definitions.latest, seed=2024, today=today).records(n))
    # The caseload answers the follow-up questions of most records; leave a realistic share of
    # follow-ups open (a fifth of the records have neither answered), so the list is not empty.
    rng = random.Random(8)
    closers = [w.closed_by for w in definitions.latest.followup_windows]
    for answers in caseload:
        if rng.random() < 0.2:
            for key in closers:
                answers.pop(key, None)
    with tempfile.TemporaryDirectory(prefix="flsdesk-bench-fu-") as tmp:
        paths = resolve(Path(tmp) / "store")
        with Store.create(
            paths, BENCH_KEY, "BM (bench)", "Bench FLS", definitions=definitions
        ) as store:
            ids = store.bulk_insert(caseload)
            engine = store.engine
            on = today - timedelta(days=1)
            rows = followups.worklist(engine, definitions, on)
            # A few call attempts, so the last-attempt join has something to find.
            for row in rows[:200]:
                followups.log_call_attempt(
                    store, row.record_id, row.window_id, on, "No answer", today
                )
            open_list = _median(lambda: followups.worklist(engine, definitions, on))
            by_retry = _median(
                lambda: followups.worklist(engine, definitions, on, sort="try_again_on")
            )
            every = _median(
                lambda: followups.worklist(engine, definitions, on, followups.STATES), 5
            )
            counted = _median(lambda: followups.counts(engine, definitions, on))
            page = ids[:200]
            nxt = _median(lambda: followups.next_followups(engine, definitions, page, on))
            shown = len(followups.worklist(engine, definitions, on))
            total = len(followups.worklist(engine, definitions, on, followups.STATES))
    return [
        Result(
            "follow-up worklist (open)",
            open_list,
            0.100,
            note=f"{shown:,} rows over {n:,} records",
        ),
        Result("worklist sorted by try again on", by_retry, note=f"{shown:,} rows"),
        Result("worklist with missed", every, note=f"{total:,} rows"),
        Result("follow-up counts per state", counted, note="the status bar"),
        Result("next follow-up, 200 ids", nxt, note="patient list column, one page"),
    ]
