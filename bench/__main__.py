"""Run every ``bench/bench_*.py`` and print a table of medians and ratios.

    python -m bench            # the full benchmark (50,000 records)
    python -m bench --quick    # a small caseload, for a CI smoke run

Each module has ``run(quick: bool, records: int | None) -> list[Result]``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    name: str
    seconds: float  # the median (or the single run's time)
    target: float | None = None  # seconds; None when there is no target
    ratio: float | None = None  # encrypted / unencrypted, where measured
    ratio_target: float | None = None
    note: str = ""
    failed: bool = False  # a check beside the time failed (the team run's lost updates)

    @property
    def ok(self) -> bool:
        if self.failed:
            return False
        time_ok = self.target is None or self.seconds < self.target
        ratio_ok = self.ratio_target is None or self.ratio is None or self.ratio < self.ratio_target
        return time_ok and ratio_ok


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small caseload (CI smoke run)")
    parser.add_argument("--records", type=int, help="caseload size (default 50,000; quick 2,000)")
    parser.add_argument("--only", help="run only bench_<ONLY>.py")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n == f"bench_{args.only}"]
    results: list[Result] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} …", file=sys.stderr, flush=True)
        results.extend(module.run(quick=args.quick, records=args.records))
    width = max([len(r.name) for r in results] + [10])
    print(f"{'benchmark':<{width}}  {'median':>10}  {'target':>10}  {'enc/plain':>9}  ok  note")
    for r in results:
        target = _fmt(r.target) if r.target is not None else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        mark = "yes" if r.ok else "NO"
        row = f"{r.name:<{width}}  {_fmt(r.seconds):>10}  {target:>10}  {ratio:>9}  {mark:<3}"
        print(f"{row} {r.note}")
    # Targets are for the full caseload; a quick run only checks that everything works.
    return 0 if args.quick or all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
