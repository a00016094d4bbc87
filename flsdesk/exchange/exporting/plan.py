"""Preparing an export: the report (going, held back and why, warnings, deleted since sent)
and the encoded rows, from one read of the store. Writes nothing."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from datetime import date
from typing import Any

from flsdesk.exchange import batches
from flsdesk.exchange.exporting.model import (
    HELD_NEEDS_CORRECTION,
    HELD_OPTED_OUT,
    HELD_OPTOUT_NOT_CHECKED,
    REQUIRE_OPTOUT_SETTING,
    WARN_OPTOUT_NOT_CHECKED,
    CancelFn,
    DeletedSinceSent,
    ExportCancelled,
    ExportError,
    ExportPlan,
    ProgressFn,
    ReportRow,
)
from flsdesk.exchange.exporting.render import Renderer
from flsdesk.exchange.exporting.row_cache import CACHE_CONTEXT_KEY, CACHE_SQL, cache_context
from flsdesk.exchange.exporting.scope import Scope
from flsdesk.exchange.exporting.writer import columns_for, header_cells
from flsdesk.exchange.importing.snapshot import SnapshotHooks, take_snapshot
from flsdesk.exchange.profiles import ExportProfile, load_export_profile
from flsdesk.exchange.sql import Raw, as_date, as_datetime, one_moment, stamp_text
from flsdesk.rules import NEEDS_CORRECTION, evaluate, problem_summary
from flsdesk.store.records import normalise_answers
from flsdesk.store.store import Store

log = logging.getLogger("flsdesk.exchange")

# "+deleted_at": read the table straight through. Otherwise SQLite picks an index that leads
# with deleted_at and fetches every row by id in index order — random pages, each decrypted
# again once the page cache is full: three times slower on a 50,000-record store.
_LIVE_SQL = (
    "SELECT id, {answers}, status, has_errors, nhs_number, diagnosed, name, created_at "
    "FROM records WHERE +deleted_at IS NULL"
)


def _deleted_since_sent(raw: Raw, live_ids: set[int]) -> list[DeletedSinceSent]:
    """Records sent in some export and deleted here since (still in the deleted view, or purged
    after its 30 days), not yet reported by an export. Reads only the few that qualify: the
    batch history grows with every export."""
    deleted = {
        r[0]: r
        for r in raw.execute(
            "SELECT id, nhs_number, diagnosed, deleted_at, deleted_reason FROM records "
            "WHERE deleted_at IS NOT NULL"
        ).fetchall()
    }
    # Only sent batches count: a deletion reported in a file never sent is reported again.
    ever = {
        r[0]
        for r in raw.execute(
            "SELECT DISTINCT record_id FROM export_rows WHERE batch_seq IN "
            "(SELECT seq FROM export_batches WHERE state = ?)",
            (batches.SENT,),
        )
    }
    candidates = sorted(ever - live_ids)
    out: list[DeletedSinceSent] = []
    for rid in candidates:
        last = raw.execute(
            "SELECT r.kind, b.created_at FROM export_rows r "
            "JOIN export_batches b ON b.seq = r.batch_seq "
            "WHERE r.record_id = ? AND b.state = ? ORDER BY r.batch_seq DESC LIMIT 1",
            (rid, batches.SENT),
        ).fetchone()
        if last is None or last[0] != batches.ROW:
            continue  # already reported as deleted
        sent_at = as_datetime(last[1])
        row = deleted.get(rid)
        if row is None:  # purged: its NHS number is no longer held here
            out.append(DeletedSinceSent(rid, None, None, None, None, sent_at))
        else:
            out.append(
                DeletedSinceSent(rid, row[1], as_date(row[2]), as_datetime(row[3]), row[4], sent_at)
            )
    return out


class _Why:
    """Which error holds a record back, in the rules' own words: the record evaluated again,
    its duplicate checks answered from one read of every record's keys (as the import does).
    Asking the store per record (``Store.evaluate``) costs a round trip or three to a team
    database each: most of an export where thousands are held back."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.today = store.today()
        self.hooks: SnapshotHooks | None = None

    def __call__(self, record_id: int, answers_text: str) -> str:
        if self.hooks is None:
            self.hooks = SnapshotHooks(take_snapshot(self.store))
        try:
            answers = normalise_answers(json.loads(answers_text))
            definition = self.store.definitions.for_answers(answers)
            evaluation = evaluate(
                definition, answers, self.today, hooks=self.hooks, record_id=record_id
            )
        except ValueError:
            return HELD_NEEDS_CORRECTION
        return problem_summary(evaluation) or HELD_NEEDS_CORRECTION


def _live_ids(raw: Raw) -> set[int]:
    return {r[0] for r in raw.execute("SELECT id FROM records WHERE +deleted_at IS NULL")}


def prepare(
    store: Store,
    scope: Scope,
    profile: ExportProfile | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportPlan:
    """The report and the rows of an export; writes nothing.

    A record whose stored answers and context (definitions, profile) are those its cached row
    was rendered with reuses that row; the others are decoded and rendered. Which rows are
    cached changes nothing in the result (a test checks a cold and a warm export agree).
    """
    # The report builds a few hundred thousand small objects that all live until it returns:
    # the cyclic collector would scan them again and again (a third of the run) for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _prepare(store, scope, profile, progress, cancel)
    finally:
        if enabled:
            gc.enable()


def _prepare(
    store: Store,
    scope: Scope,
    profile: ExportProfile | None,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> ExportPlan:
    profile = profile or load_export_profile(
        store.get_setting("export_profile") or None, store.paths
    )
    batches.recover_interrupted(store)
    latest = store.definitions.latest
    columns = columns_for(latest, profile)
    header = header_cells(columns, profile)
    renderer = Renderer(store, profile, columns)
    require_check = bool(store.get_setting(REQUIRE_OPTOUT_SETTING, False))
    context = cache_context(store, profile, renderer.today)
    why = _Why(store)

    sql = _LIVE_SQL
    params: tuple[Any, ...] = ()
    bounds = scope.bounds()
    if bounds:
        sql += " AND diagnosed >= ? AND diagnosed < ?"
    with one_moment(store.engine) as conn:
        # The driver's own cursor: plain tuples, without the ORM result layer's cost per row.
        raw = Raw(conn)
        if bounds:
            params = (raw.param_date(bounds[0]), raw.param_date(bounds[1]))
        rows = raw.execute(sql.format(answers=raw.answers), params).fetchall()
        stored = raw.execute(
            "SELECT value FROM meta WHERE key = ?", (CACHE_CONTEXT_KEY,)
        ).fetchone()
        cache_valid = stored is not None and stored[0] == context
        cached = {r[0]: r[1:] for r in raw.execute(CACHE_SQL).fetchall()} if cache_valid else {}
        last = batches.last_row_hashes(conn) if scope.kind == "since-last" else {}
        batches_token = batches.state_token(raw)
        live_ids = {row[0] for row in rows} if not bounds else _live_ids(raw)
        deleted_since_sent = _deleted_since_sent(raw, live_ids)
        # Rows of batches written but not confirmed sent (few batches): counted once the plan
        # knows which records go.
        pending = batches.unconfirmed_rows(conn) if scope.kind == "since-last" else []
    miss = (None, None, None, None, None)
    total = len(rows)
    since_last = scope.kind == "since-last"
    sha256 = hashlib.sha256
    loads = json.loads
    # Diagnosis dates repeat: each distinct one is parsed once.
    days: dict[Any, date | None] = {value: as_date(value) for value in {row[5] for row in rows}}
    day = days.__getitem__

    plan = ExportPlan(scope, profile, header)
    plan.cache_context = context
    plan.cache_reset = not cache_valid
    plan.batches_token = batches_token
    going: list[tuple[str, ReportRow, bytes, str]] = []
    for done, row in enumerate(rows, 1):
        if done % 1000 == 0:
            if cancel is not None and cancel():
                raise ExportCancelled("The export was cancelled; nothing was written.")
            if progress is not None:
                progress(done, total)
        (rid, text, status, has_errors, nhs, diagnosed, name, created) = row
        c_answers, data, digest, optout_state, sort_key = cached.get(rid, miss)
        answers_sha = sha256(text.encode()).digest()
        problem = None
        if c_answers != answers_sha or (data is None and c_answers):
            created_text = stamp_text(created)
            data, problem, optout_state, sort_key = renderer.render(rid, loads(text), created_text)
            digest = sha256(data).hexdigest() if data is not None else None
            plan.cache_updates.append((rid, answers_sha, data, digest, optout_state, sort_key))
        if since_last and digest is not None and last.get(rid) == digest:
            plan.unchanged += 1
            continue
        held_reason = ""
        if has_errors or status == NEEDS_CORRECTION:
            held_reason = why(rid, text)
        elif optout_state == "opted_out":
            held_reason = HELD_OPTED_OUT
        elif optout_state == "unchecked" and require_check:
            held_reason = HELD_OPTOUT_NOT_CHECKED
        report = ReportRow(rid, nhs, day(diagnosed), name, status, held_reason)
        if held_reason:
            plan.held_back.append(report)
            continue
        if data is None:
            # Names the record and the question; the cached row said it cannot be encoded.
            raise (
                problem
                or renderer.render(rid, loads(text), stamp_text(created))[1]
                or ExportError(f"Record {rid} cannot be written in {profile.encoding}.")
            )
        going.append((sort_key, report, data, digest))
        if optout_state == "unchecked":
            plan.warnings.append(
                ReportRow(rid, nhs, day(diagnosed), name, status, WARN_OPTOUT_NOT_CHECKED)
            )
    if progress is not None:
        progress(total, total)
    going.sort(key=lambda item: item[0])
    plan.going = [item[1] for item in going]
    plan.row_bytes = [item[2] for item in going]
    plan.row_hashes = [item[3] for item in going]
    plan.held_back.sort(key=lambda r: r.record_id)
    plan.warnings.sort(key=lambda r: r.record_id)
    if since_last and plan.going:
        plan.unconfirmed = batches.unconfirmed_holding(pending, (r.record_id for r in plan.going))
    try:
        # utf-8-sig adds the BOM here, once.
        plan.header_bytes = renderer.writer.header_line(header).encode(profile.encoding)
    except UnicodeEncodeError:
        raise ExportError(
            f"The header cannot be written in {profile.encoding}: check the short names."
        ) from None
    plan.deleted_since_sent = deleted_since_sent
    log.info(
        "export prepared (%s): %d going, %d held back, %d warnings, %d deleted since sent, "
        "%d rendered",
        scope.label,
        len(plan.going),
        len(plan.held_back),
        len(plan.warnings),
        len(plan.deleted_since_sent),
        len(plan.cache_updates),
    )
    return plan
