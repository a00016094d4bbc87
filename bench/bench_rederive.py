"""Re-deriving every record after a corrected dataset file is dropped into the override folder
(issue 13): the one transaction that runs at the first open after the change.

Two corrections are timed over the same 50,000-record encrypted store, each by the real path
(override file, ``Store.open(..., defer_rederive=True)``, then ``store.rederive(progress)``):

- a rule: 1.10 becomes a lite question (statuses and missing counts change; keys do not);
- the match key: NHS number + date of birth instead of + date of diagnosis (every key changes;
  the records whose duplicate checks would now answer otherwise are evaluated a second time).

No target is set by the issue; the window shows a progress dialog while it runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.__main__ import Result
from bench.caseload import Caseload
from flsdesk.dataset import load_definitions
from flsdesk.paths import AppPaths, bundled_resources, resolve
from flsdesk.store.store import Store

BENCH_KEY = bytes(range(180, 212))  # throw-away key for a throw-away store
V3 = bundled_resources() / "datasets" / "flsdb-v3.toml"
LITE_110 = (
    'provisional_answers = true\n\n[[questions]]\nnumber = "1.11"',
    'provisional_answers = true\nlite = true\n\n[[questions]]\nnumber = "1.11"',
)
KEY_BY_DOB = ('primary = ["1.01", "1.09"]', 'primary = ["1.01", "1.02"]')


def _override(paths: AppPaths, *edits: tuple[str, str]) -> None:
    text = V3.read_text(encoding="utf-8")
    for old, new in edits:
        if text.count(old) != 1:
            raise RuntimeError(f"bench_rederive: {old!r} is no longer in {V3.name} once")
        text = text.replace(old, new)
    paths.overrides_dir.mkdir(parents=True, exist_ok=True)
    (paths.overrides_dir / V3.name).write_text(text, encoding="utf-8")


def _rederive(paths: AppPaths) -> tuple[float, str]:
    steps = []
    with Store.open(paths, BENCH_KEY, "BM (bench)", defer_rederive=True) as store:
        start = time.perf_counter()
        result = store.rederive(lambda done, total: steps.append(done))
        seconds = time.perf_counter() - start
    if result is None:
        raise RuntimeError("bench_rederive: the correction did not change the fingerprint")
    note = (
        f"{result.total:,} records, {result.changed_status:,} changed status, "
        f"{result.changed_key:,} changed key, {len(steps)} progress steps"
    )
    return seconds, note


def run(quick: bool = False, records: int | None = None) -> list[Result]:
    n = records or (2_000 if quick else 50_000)
    definitions = load_definitions(None)
    caseload = list(Caseload(definitions.latest, seed=2024).records(n))
    with tempfile.TemporaryDirectory(prefix="flsdesk-bench-rederive-") as tmp:
        paths = resolve(Path(tmp) / "store")
        # The store's own config folder, not the user's (FLSDESK_CONFIG_DIR may point elsewhere).
        paths = AppPaths(paths.data_dir, Path(tmp) / "config", paths.log_dir)
        with Store.create(
            paths, BENCH_KEY, "BM (bench)", "Bench FLS", definitions=definitions
        ) as store:
            store.bulk_insert(caseload)
        _override(paths, LITE_110)
        rule_time, rule_note = _rederive(paths)
        _override(paths, LITE_110, KEY_BY_DOB)
        key_time, key_note = _rederive(paths)
    return [
        Result(f"re-derive {n:,}: a rule changed", rule_time, note=rule_note),
        Result(f"re-derive {n:,}: the key changed", key_time, note=key_note),
    ]
