"""``flsdesk export`` and ``flsdesk upload`` (README.md, "The command line").

Results go to stdout, messages to stderr. Held-back records are listed with their NHS numbers on
the terminal because the user asked to see them; the log only ever gets counts and batch ids.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from flsdesk.answers import date_for_people, moment_for_people
from flsdesk.cli.base import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, CliError, Context, Subparsers
from flsdesk.cli.prompts import open_store_for_command
from flsdesk.datafiles import DataFileError
from flsdesk.files import refusal
from flsdesk.store.roles import Role


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "export",
        help="write the FLS-DB import CSV (report first; held-back records exit 1)",
        description="Export records for the FLS-DB webtool's Import Data page.",
    )
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--since-last",
        action="store_true",
        help="records new or changed since the last export (the usual monthly run)",
    )
    scope.add_argument("--month", metavar="YYYY-MM", help="records diagnosed in this month")
    scope.add_argument("--all", action="store_true", help="every record")
    p.add_argument("--out", required=True, metavar="FILE", help="the CSV file to write")
    p.add_argument("--profile", metavar="NAME", help="export profile (default: from Settings)")
    p.add_argument(
        "--dry-run", action="store_true", help="show the report only: write and record nothing"
    )
    p.set_defaults(handler=run_export)

    p = sub.add_parser(
        "upload",
        help="send an exported file to the upload address in Settings",
        description="Upload a file to the HTTPS address set in Settings (Upload address).",
    )
    p.add_argument("file", metavar="FILE", help="the exported CSV file")
    p.set_defaults(handler=run_upload)

    p = sub.add_parser(
        "outbox",
        help="list the export batches; mark one uploaded in the webtool, or discard one",
        description="The export batches (id, date, scope, rows, state). A batch counts as sent "
        "once uploaded or marked uploaded in the webtool; a discarded batch's records go again.",
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument(
        "--mark-uploaded",
        metavar="ID",
        help="the batch's file was uploaded in the FLS-DB webtool by hand",
    )
    action.add_argument(
        "--discard", metavar="ID", help="the batch's file was not sent: its records go again"
    )
    p.add_argument(
        "--on", metavar="YYYY-MM-DD", help="the day it was uploaded (with --mark-uploaded; today)"
    )
    p.set_defaults(handler=run_outbox)


def _fmt_date(value: Any) -> str:
    return date_for_people(value) or "-"


def run_export(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.exchange import export as ex
    from flsdesk.exchange.profiles import load_export_profile

    if args.since_last:
        scope = ex.Scope.since_last()
    elif args.all:
        scope = ex.Scope.all()
    else:
        try:
            scope = ex.Scope.parse(args.month)
        except ValueError:
            raise CliError(
                f"--month {args.month!r}: give a month as YYYY-MM.", EXIT_USAGE
            ) from None
    out = Path(args.out).expanduser()
    if not args.dry_run and not out.parent.is_dir():
        raise CliError(f"The folder {out.parent} does not exist.", EXIT_USAGE)
    if not args.dry_run and (problem := refusal(out, ctx.paths)):
        raise CliError(problem, EXIT_USAGE)

    with open_store_for_command(ctx.paths) as store:
        if not args.dry_run:
            store.require(Role.ADMIN, "exporting")  # said before the report, not after it
        try:
            profile = load_export_profile(
                args.profile or store.get_setting("export_profile") or None, ctx.paths
            )
        except DataFileError as exc:
            raise CliError(f"The export profile cannot be used:\n{exc}", EXIT_USAGE) from None
        try:
            plan = ex.prepare(store, scope, profile)
        except ex.UnencodableCharacter as exc:
            raise CliError(str(exc), EXIT_ATTENTION) from None
        except ex.ExportError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        _print_report(plan)
        if plan.is_empty:
            print("Nothing to export: no file written.")
            return EXIT_ATTENTION if plan.held_back else EXIT_OK
        try:
            result = ex.write(store, plan, out, dry_run=args.dry_run)
        except ex.ExportError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    if args.dry_run:
        print(f"Dry run: {result.records} record(s) would be written; nothing was written.")
    else:
        print(f"Wrote {result.records} record(s) to {result.path} (batch {result.batch_id}).")
        print(f"SHA-256 {result.sha256}")
    return EXIT_ATTENTION if plan.held_back else EXIT_OK


def _print_report(plan: Any) -> None:
    print(
        f"Export ({plan.scope.describe()}): "
        f"{len(plan.going)} going, {len(plan.held_back)} held back, "
        f"{len(plan.warnings)} warning(s), {len(plan.deleted_since_sent)} deleted since sent"
        + (f", {plan.unchanged} unchanged" if plan.scope.kind == "since-last" else "")
    )
    for line in plan.unconfirmed_lines():
        print(line)
    if plan.held_back:
        print("\nHeld back (fix these, then export again):")
        for r in plan.held_back:
            print(
                f"  record {r.record_id:>6}  NHS {r.nhs_number or '-':<10}  "
                f"diagnosed {_fmt_date(r.diagnosed)}  {r.reason}"
            )
    if plan.warnings:
        print("\nWarnings (exported all the same):")
        for r in plan.warnings:
            print(f"  record {r.record_id:>6}  NHS {r.nhs_number or '-':<10}  {r.reason}")
    if plan.deleted_since_sent:
        print("\nDeleted here since they were sent: delete these in the webtool too:")
        for d in plan.deleted_since_sent:
            if d.purged:
                print(f"  record {d.record_id:>6}  (purged here; its NHS number is no longer held)")
            else:
                print(
                    f"  record {d.record_id:>6}  NHS {d.nhs_number or '-':<10}  "
                    f"diagnosed {_fmt_date(d.diagnosed)}  reason: {d.reason}"
                )
    print()


def run_upload(args: argparse.Namespace, ctx: Context) -> int:
    from flsdesk.exchange import upload as up

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise CliError(f"There is no file {path}.", EXIT_USAGE)

    with open_store_for_command(ctx.paths) as store:
        store.require(Role.ADMIN, "uploading")
        try:
            result = up.upload_file(
                store,
                path,
                on_attempt=lambda n, total: print(f"Uploading (attempt {n} of {total})…"),
            )
        except DataFileError as exc:
            raise CliError(f"The upload profile cannot be used:\n{exc}", EXIT_USAGE) from None
        except up.UploadError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    print(result.message)
    return EXIT_OK if result.sent else EXIT_ATTENTION


OUTBOX_STATE_TEXT = {
    "exported": "exported (not marked as uploaded)",
    "uploading": "uploading (interrupted?)",
    "sent": "sent",
    "failed": "failed",
    "discarded": "discarded",
}


def _scope_text(scope: str) -> str:
    if scope.startswith("month:"):
        return f"diagnosed {scope[6:]}"
    return {"since-last": "new or changed", "all": "all records", "external": "other file"}.get(
        scope, scope
    )


def _find_batch(batches: Any, store: Any, text: str) -> Any:
    """A batch by the number the outbox shows, or by its id (as in the upload's receipt)."""
    listed = batches.list_batches(store)
    text = text.strip()
    if text.isdigit():
        found = [b for b in listed if b.seq == int(text)]
    else:
        found = [b for b in listed if len(text) >= 8 and b.batch_id.startswith(text.lower())]
    if len(found) != 1:
        raise CliError(
            f"There is no export batch {text!r}: give the number in the first column of "
            "`flsdesk outbox`.",
            EXIT_USAGE,
        )
    return found[0]


def run_outbox(args: argparse.Namespace, ctx: Context) -> int:
    from datetime import date

    from flsdesk.exchange import batches

    if args.on is not None and args.mark_uploaded is None:
        raise CliError("--on goes with --mark-uploaded ID.", EXIT_USAGE)
    on: date | None = None
    if args.on is not None:
        try:
            on = date.fromisoformat(args.on)
        except ValueError:
            raise CliError(f"--on {args.on!r}: give a date as YYYY-MM-DD.", EXIT_USAGE) from None

    with open_store_for_command(ctx.paths) as store:
        if args.mark_uploaded is not None or args.discard is not None:
            store.require(Role.ADMIN, "changing the outbox")
        try:
            if args.mark_uploaded is not None:
                batch = _find_batch(batches, store, args.mark_uploaded)
                batch = batches.mark_uploaded(store, batch.batch_id, on or store.today())
                print(f"Batch {batch.seq} is sent: {batch.receipt}.")
                return EXIT_OK
            if args.discard is not None:
                batch = _find_batch(batches, store, args.discard)
                batch = batches.discard(store, batch.batch_id)
                print(
                    f"Batch {batch.seq} is discarded: its {batch.record_count} record(s) go with "
                    "the next export. Its file was left where it is; delete it if you no longer "
                    "need it (it holds patient data)."
                )
                return EXIT_OK
        except batches.BatchStateError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        listed = batches.list_batches(store)
    if not listed:
        print("No export yet.")
        return EXIT_OK
    print(f"{'id':>4}  {'date':<16}  {'scope':<18}  {'rows':>6}  state")
    for b in listed:
        state = OUTBOX_STATE_TEXT.get(b.state, b.state)
        if b.state == batches.SENT and b.receipt:
            state += f" — {b.receipt}"
        elif b.state == batches.FAILED and b.failure:
            state += f" — {b.failure}"
        print(
            f"{b.seq:>4}  {_fmt_time(b.created_at):<16}  {_scope_text(b.scope):<18}  "
            f"{b.record_count:>6}  {state}"
        )
    return EXIT_OK


def _fmt_time(value: datetime) -> str:
    return moment_for_people(value)
