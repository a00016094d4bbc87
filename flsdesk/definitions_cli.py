"""``flsdesk definitions``: which data files are in use and where from, or check one file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flsdesk.cli import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, CliError, Context
from flsdesk.datafiles import KIND_FOLDERS, DataFileError, find, read_toml, unrecognised_overrides
from flsdesk.dataset import parse_definition
from flsdesk.sync.profiles import check_export_profile, check_upload_profile

# kind -> a function that raises DataFileError on any problem and returns a one-line summary.
# Later areas (export and upload profiles, KPI definitions) add theirs.
CHECKERS: dict[str, Callable[[dict[str, Any], Path], str]] = {}


def _check_dataset(data: dict[str, Any], path: Path) -> str:
    d = parse_definition(data, path)
    provisional = sum(1 for q in d.questions.values() if q.provisional)
    return (
        f"dataset {d.id} version {d.version}, applies from {d.applies_from:%d/%m/%Y}: "
        f"{len(d.exported_questions)} questions, {len(d.local_fields)} local fields, "
        f"{len(d.checks)} checks, {provisional} with provisional parts"
    )


CHECKERS["dataset"] = _check_dataset
CHECKERS["export-profile"] = check_export_profile
CHECKERS["upload-profile"] = check_upload_profile


def check_file(path: Path) -> str:
    data = read_toml(path)
    kind = data.get("kind")
    checker = CHECKERS.get(kind) if isinstance(kind, str) else None
    if checker is None:
        raise DataFileError(
            path, [f"unknown kind {kind!r}: expected one of {', '.join(sorted(CHECKERS))}"]
        )
    return checker(data, path)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.check:
        path = Path(args.check)
        try:
            summary = check_file(path)
        except DataFileError as exc:
            raise CliError(f"{path} has problems:\n{exc}", EXIT_USAGE) from None
        print(f"{path}: OK — {summary}")
        return EXIT_OK
    problems = 0
    print(f"Override folder: {ctx.paths.overrides_dir}")
    for kind in KIND_FOLDERS:
        files = find(kind, ctx.paths)
        if not files:
            continue
        print(f"{kind}:")
        for f in files:
            status = "ok"
            if kind in CHECKERS:
                try:
                    check_file(f.path)
                except DataFileError as exc:
                    status = f"HAS PROBLEMS ({len(exc.problems)}; run --check for details)"
                    problems += 1
            print(f"  {f.name:32} {f.source:8} {status:6} {f.path}")
    for path in unrecognised_overrides(ctx.paths):
        print(f"unused: {path} (not valid TOML or no known 'kind'; run --check)")
        problems += 1
    return EXIT_ATTENTION if problems else EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "definitions",
        help="list the dataset, profile and KPI files in use, or check one",
        description="List the data files in use (bundled or overridden), or check one file.",
    )
    p.add_argument("--check", metavar="FILE", help="validate one definition or profile file")
    p.set_defaults(handler=run)
