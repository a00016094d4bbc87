"""``flsdesk kpi`` and ``flsdesk completeness`` (spec/cli.md; README.md, "The command line").

``kpi [--from YYYY-MM-DD --to YYYY-MM-DD | --year YYYY] [--csv FILE] [--missing N]``: the KPI
table for a period of diagnosis dates (default 1 January of this year to today; ``--year`` is
the audit year), or with ``--missing N`` the records KPI N misses instead.
``completeness [--year YYYY] [--csv FILE]``: per lite question, the share of records lacking it,
worst first (default: the report year whose deadline is next).

Results go to stdout, or with ``--csv`` to a file readable by its owner only (written
atomically); messages to stderr. Exit 0 once the report is produced, whatever it shows; 2 for a
bad date, period, KPI number, CSV path or KPI definition file; 3 when the store cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from flsdesk import files
from flsdesk.answers import date_for_people
from flsdesk.cli.base import EXIT_OK, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.cli.prompts import open_store_for_command
from flsdesk.datafiles import DataFileError

if TYPE_CHECKING:
    from flsdesk.kpi.engine import KpiReport


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD") from None


def _year(text: str) -> int:
    if not (len(text) == 4 and text.isdigit()) or not 1900 <= int(text) <= 9998:
        raise argparse.ArgumentTypeError(f"'{text}' is not a year: use YYYY")
    return int(text)


def _kpi_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a KPI number (1, 2, 3…)")
    return int(text)


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "kpi",
        help="the FLS-DB KPIs for a period, or the records one KPI misses",
        description="Compute KPIs 1-11 for the records diagnosed in a period (default: 1 January "
        "of this year to today), or list the records one KPI misses.",
    )
    p.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first day")
    p.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD", help="last day")
    p.add_argument(
        "--year", type=_year, metavar="YYYY", help="the audit year (1 January - 31 December)"
    )
    p.add_argument("--csv", metavar="FILE", help="write the table to FILE (readable by you only)")
    p.add_argument(
        "--missing",
        type=_kpi_number,
        metavar="N",
        help="list the records KPI N misses (NHS number, fracture date, what is missing)",
    )
    p.set_defaults(handler=run_kpi)

    c = sub.add_parser(
        "completeness",
        help="per lite question, the share of records lacking it",
        description="Per lite question, the share of records (where it applies) that lack it, "
        "worst first. Default: the report year whose deadline is next.",
    )
    c.add_argument("--year", type=_year, metavar="YYYY", help="the audit year")
    c.add_argument("--csv", metavar="FILE", help="write the table to FILE (readable by you only)")
    c.set_defaults(handler=run_completeness)


def _csv_target(args: argparse.Namespace, ctx: Context) -> Path | None:
    if not args.csv:
        return None
    target = Path(args.csv).expanduser()
    # Checked before unlocking, so a typo costs nothing.
    if target.is_dir() or not target.parent.is_dir():
        raise CliError(f"Cannot write {target}: no such folder, or it is a folder.", EXIT_USAGE)
    if problem := files.refusal(target, ctx.paths):
        raise CliError(problem, EXIT_USAGE)
    return target


def _write_csv(target: Path, text: str) -> None:
    try:
        # UTF-8 with a BOM: a spreadsheet then reads the dashes and accents right.
        files.write_text(target, text, encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"Cannot write {target}: {exc.strerror or exc}.", EXIT_USAGE) from None


def _period_args(args: argparse.Namespace) -> tuple[date | None, date | None, int | None]:
    if args.year is not None and (args.start or args.end):
        raise CliError("Give either --year or --from/--to, not both.", EXIT_USAGE)
    if (args.start is None) != (args.end is None):
        raise CliError("--from and --to go together: give both days.", EXIT_USAGE)
    if args.start and args.end and args.end < args.start:
        raise CliError(f"The period ends ({args.end}) before it starts ({args.start}).", EXIT_USAGE)
    return args.start, args.end, args.year


def run_kpi(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.kpi import engine, tables
    from flsdesk.kpi.definitions import load_kpis

    start, end, year = _period_args(args)
    target = _csv_target(args, ctx)
    try:
        kset = load_kpis(ctx.paths)
    except DataFileError as exc:
        raise CliError(f"The KPI definition file cannot be used:\n{exc}", EXIT_USAGE) from None
    if args.missing is not None:
        try:
            k = kset.kpi(args.missing)
        except KeyError as exc:
            raise CliError(str(exc.args[0]), EXIT_USAGE) from None
        if k.formula != "share":
            raise CliError(
                f"KPI {k.number} ({k.name}) counts no per-record numerator: there is no list "
                "of records it misses.",
                EXIT_USAGE,
            )
    with open_store_for_command(ctx.paths) as store:
        today = store.today()
        if year is not None:
            period = engine.Period.year(year)
        elif start is not None and end is not None:
            period = engine.Period(start, end)
        else:
            period = engine.Period(date(today.year, 1, 1), today)
        span = f"{date_for_people(period.start)} to {date_for_people(period.end)}"
        if args.missing is not None:
            items = engine.missed(store, args.missing, period, today, kpis=kset)
            rows = tables.missed_rows(items)
            what = f"{len(items)} record(s) missed by KPI {args.missing} ({k.name}), {span}"
            notes: list[str] = []
        else:
            report = engine.compute(store, period, today, kpis=kset)
            rows = tables.kpi_csv_rows(report) if target else tables.kpi_table_rows(report)
            what = f"KPIs for {report.records_counted} record(s) diagnosed {span}"
            notes = _report_notes(report)
    if target is not None:
        _write_csv(target, tables.csv_text(rows))
        print(f"{what}: written to {target}.", file=sys.stderr)
        for note in notes:
            print(note, file=sys.stderr)
        return EXIT_OK
    if len(rows) > 1:
        print(tables.plain_table(rows))
    for note in notes:
        print(note)
    print(f"{what}.", file=sys.stderr)
    return EXIT_OK


def _report_notes(report: KpiReport) -> list[str]:
    notes = [report.caseload_note]
    for r in report.results:
        if r.weak_fields or (r.number == 1 and r.note):
            notes.append(f"KPI {r.number}: {r.note}")
    if report.records_with_errors:
        notes.append(
            f"{report.records_with_errors} record(s) with errors left out of every KPI "
            "(correct them to count them)."
        )
    if report.national_source:
        notes.append(f"National averages: {report.national_source}.")
    notes.append("[P]: a provisional definition (see the KPI file, `flsdesk definitions`).")
    return notes


def run_completeness(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.kpi import annual, completeness, engine, tables
    from flsdesk.kpi.definitions import load_kpis

    target = _csv_target(args, ctx)
    try:
        kset = load_kpis(ctx.paths)
    except DataFileError as exc:
        raise CliError(f"The KPI definition file cannot be used:\n{exc}", EXIT_USAGE) from None
    with open_store_for_command(ctx.paths) as store:
        today = store.today()
        year = args.year if args.year is not None else annual.default_report_year(today, kset)
        gaps = completeness.completeness(store, engine.Period.year(year), today)
    rows = tables.gap_rows(gaps)
    what = f"Completeness of {year}'s records ({len(gaps)} lite question(s) apply)"
    if target is not None:
        _write_csv(target, tables.csv_text(rows))
        print(f"{what}: written to {target}.", file=sys.stderr)
        return EXIT_OK
    if gaps:
        print(tables.plain_table(rows))
    print(f"{what}.", file=sys.stderr)
    return EXIT_OK
