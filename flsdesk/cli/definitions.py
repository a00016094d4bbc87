"""``flsdesk definitions``: which data files are in use and where from, or check one file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flsdesk.answers import date_for_people
from flsdesk.cli.base import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.datafiles import KIND_FOLDERS, DataFileError, find, read_toml, unrecognised_overrides
from flsdesk.dataset import base_files, load_definitions, parse_definition
from flsdesk.exchange.profiles import check_export_profile, check_upload_profile
from flsdesk.kpi.definitions import check_kpi_file
from flsdesk.paths import AppPaths

# kind -> a function that raises DataFileError on any problem and returns a one-line summary.
# Later areas (export and upload profiles, KPI definitions) add theirs.
CHECKERS: dict[str, Callable[[dict[str, Any], Path], str]] = {}


def _check_dataset(data: dict[str, Any], path: Path, paths: AppPaths | None = None) -> str:
    # A file based on another is checked against the base in use (an override of it included).
    d = parse_definition(data, path, bases=base_files(paths))
    provisional = sum(1 for q in d.questions.values() if q.provisional)
    based = f", based on {d.based_on}" if d.based_on else ""
    whole = " (provisional)" if d.provisional else ""
    return (
        f"dataset {d.id} version {d.version}{whole}{based}, applies from "
        f"{date_for_people(d.applies_from)}: "
        f"{len(d.exported_questions)} questions, {len(d.local_fields)} local fields, "
        f"{len(d.checks)} checks, {provisional} with provisional parts"
    )


CHECKERS["dataset"] = _check_dataset
CHECKERS["export-profile"] = check_export_profile
CHECKERS["upload-profile"] = check_upload_profile
CHECKERS["kpi"] = check_kpi_file


def check_file(path: Path, paths: AppPaths | None = None) -> str:
    data = read_toml(path)
    kind = data.get("kind")
    if kind == "dataset":
        return _check_dataset(data, path, paths)
    checker = CHECKERS.get(kind) if isinstance(kind, str) else None
    if checker is None:
        raise DataFileError(
            path, [f"unknown kind {kind!r}: expected one of {', '.join(sorted(CHECKERS))}"]
        )
    return checker(data, path)


def _print_versions(paths: AppPaths) -> int:
    """Which dataset a record follows, by its date of diagnosis; 1 when the set cannot be used
    (two files applying from the same day)."""
    try:
        definitions = load_definitions(paths)
    except DataFileError as exc:
        print(f"  the dataset files cannot be used together:\n    {exc}")
        return 1
    versions = list(definitions)
    for i, d in enumerate(versions):
        until = ""
        if i + 1 < len(versions):
            last = versions[i + 1].applies_from - timedelta(days=1)
            until = f" to {date_for_people(last)}"
        marks = " (provisional)" if d.provisional else ""
        print(f"  diagnosed from {date_for_people(d.applies_from)}{until}: {d.id}{marks}")
    return 0


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.check:
        path = Path(args.check)
        try:
            summary = check_file(path, ctx.paths)
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
                    check_file(f.path, ctx.paths)
                except DataFileError as exc:
                    status = f"HAS PROBLEMS ({len(exc.problems)}; run --check for details)"
                    problems += 1
            print(f"  {f.name:32} {f.source:8} {status:6} {f.path}")
        if kind == "dataset" and not problems:
            problems += _print_versions(ctx.paths)
    for path in unrecognised_overrides(ctx.paths):
        print(f"unused: {path} (not valid TOML or no known 'kind'; run --check)")
        problems += 1
    return EXIT_ATTENTION if problems else EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "definitions",
        help="list the dataset, profile and KPI files in use, or check one",
        description="List the data files in use (bundled or overridden), or check one file.",
    )
    p.add_argument("--check", metavar="FILE", help="validate one definition or profile file")
    p.set_defaults(handler=run)
