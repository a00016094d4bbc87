"""``flsdesk import FILE [--dry-run] [--skip-invalid]`` (README.md, "The command line").

The report goes to stdout and may quote bad values and NHS numbers (the user asked to see them);
messages go to stderr; the log gets counts only (``flsdesk.exchange.importer`` logs them).

Exit codes: 0 every row applied (or would be, with ``--dry-run``); 1 rows rejected (nothing
applied, unless ``--skip-invalid``, which applies the valid rows and still exits 1); 2 the file
cannot be read; 3 the store cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flsdesk.cli.base import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.cli.prompts import open_store_for_command
from flsdesk.store.roles import Role


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "import",
        help="bring records in from an FLS-DB import CSV or webtool export (report first)",
        description="Import records from a CSV in the export profile's format (either header "
        "style, UTF-8 or Windows-1252). Each row updates the record with the same NHS number "
        "and date of diagnosis, or creates one. By default the file is applied all or nothing.",
    )
    p.add_argument("file", metavar="FILE", help="the CSV file to read")
    p.add_argument(
        "--dry-run", action="store_true", help="show the report only: change nothing in the store"
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="apply the valid rows even when some are rejected (the exit code is still 1)",
    )
    p.set_defaults(handler=run)


def _print(ctx: Context, text: str) -> None:
    # sys.stdout at call time (Context's default was bound when the module loaded).
    print(text, file=sys.stdout)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.datafiles import DataFileError
    from flsdesk.exchange import importer

    path = Path(args.file).expanduser()
    # Before unlocking: a mistyped file name should not cost a passphrase prompt.
    if not path.is_file():
        raise CliError(f"Cannot read {path}: there is no such file.", EXIT_USAGE)

    with open_store_for_command(ctx.paths) as store:
        if not args.dry_run:
            store.require(Role.ENTRY, "importing")  # said before the report, not after it
        try:
            plan = importer.read_plan(store, path)
        except DataFileError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        if plan.unreadable:
            raise CliError(f"Cannot import {path.name}: {plan.unreadable}", EXIT_USAGE)
        for line in importer.report_lines(plan):
            _print(ctx, line)
        rejected = plan.rejected
        if args.dry_run:
            _print(ctx, "Dry run: nothing was changed.")
            return EXIT_ATTENTION if rejected else EXIT_OK
        if rejected and not args.skip_invalid:
            print(
                f"flsdesk import: {rejected} row(s) rejected, so nothing was imported. Correct "
                "them, or run again with --skip-invalid to apply the valid rows.",
                file=sys.stderr,
            )
            return EXIT_ATTENTION
        try:
            result = importer.apply(store, plan, skip_invalid=args.skip_invalid)
        except importer.ImportFailed as exc:
            raise CliError(str(exc), EXIT_ATTENTION) from None
        _print(
            ctx,
            f"Imported: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
            + (f"; {result.skipped} rejected row(s) left out." if result.skipped else "."),
        )
        return EXIT_ATTENTION if rejected else EXIT_OK
