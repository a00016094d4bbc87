"""``flsdesk followups [--on YYYY-MM-DD] [--state …] [--csv FILE]`` (README.md, "The command line").

The list goes to stdout as a plain table, or with ``--csv`` to a file readable by its owner only
(written atomically); messages go to stderr. Exit 0 once the list is produced, whatever it holds
(owing follow-ups is the normal state of a service); 2 for a bad date, state or CSV path; 3 when
the store cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from flsdesk import files, followups
from flsdesk.answers import date_for_people
from flsdesk.cli.base import EXIT_OK, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.cli.prompts import open_store_for_command


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD") from None


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "followups",
        help="list the follow-ups owed on a day (16- and 52-week windows)",
        description="List every open follow-up on a day: upcoming, due and overdue by default; "
        "missed ones on request.",
    )
    p.add_argument(
        "--on",
        type=_day,
        metavar="YYYY-MM-DD",
        help="the day to list for (default: today)",
    )
    p.add_argument(
        "--state",
        choices=list(followups.STATE_CHOICES),
        default="open",
        help="which follow-ups: open = upcoming + due + overdue (default); all adds missed",
    )
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="write the call sheet to FILE (readable by you only) instead of printing it",
    )
    p.set_defaults(handler=run)


def _table(rows: list[followups.FollowupRow]) -> str:
    headers = list(followups.CALL_SHEET_COLUMNS)
    cells = [followups.call_sheet_row(r) for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(c) for c in cells)])


def run(args: argparse.Namespace, ctx: Context) -> int:
    target: Path | None = None
    if args.csv:
        target = Path(args.csv).expanduser()
        # Checked before unlocking, so a typo costs nothing.
        if target.is_dir() or not target.parent.is_dir():
            raise CliError(f"Cannot write {target}: no such folder, or it is a folder.", EXIT_USAGE)
        if problem := files.refusal(target, ctx.paths):
            raise CliError(problem, EXIT_USAGE)
    with open_store_for_command(ctx.paths) as store:
        on = args.on or store.today()
        states = followups.STATE_CHOICES[args.state]
        try:
            rows = followups.worklist(store.engine, store.definitions, on, states)
        except followups.FollowupConfigError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    if target is not None:
        try:
            followups.write_call_sheet_csv(target, rows)
        except OSError as exc:
            raise CliError(f"Cannot write {target}: {exc.strerror or exc}.", EXIT_USAGE) from None
        print(
            f"{len(rows)} follow-up(s) ({args.state}) on {date_for_people(on)} "
            f"written to {target}.",
            file=sys.stderr,
        )
        return EXIT_OK
    if rows:
        print(_table(rows))
    print(f"{len(rows)} follow-up(s) ({args.state}) on {date_for_people(on)}.", file=sys.stderr)
    return EXIT_OK
