"""The rules: evaluating one fully answered record (issue 2 target: median under 1 ms)."""

from __future__ import annotations

import statistics
import time
from datetime import date

from bench.__main__ import Result
from bench.caseload import Caseload
from flsdesk.dataset import load_definitions
from flsdesk.rules import evaluate

TODAY = date(2026, 11, 26)


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    definition = load_definitions().latest
    caseload = Caseload(definition, seed=11, today=TODAY)
    # The most demanding records: every question that can apply answered, follow-up included.
    pool = []
    for answers in caseload.records(4000):
        ev = evaluate(definition, answers, TODAY)
        if ev.tab_applies.get("followup") and len(ev.effective) >= 40:
            pool.append(answers)
        if len(pool) >= 200:
            break
    rounds = 2 if quick else 25
    times = []
    for _ in range(rounds):
        for answers in pool:
            start = time.perf_counter()
            evaluate(definition, answers, TODAY)
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    answered = statistics.median(len(a) for a in pool)
    return [
        Result(
            "rules: evaluate a fully answered record",
            median,
            target=0.001,
            note=f"{len(times)} evaluations of {len(pool)} records, median {answered:.0f} answers",
        )
    ]
