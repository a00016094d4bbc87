"""Re-deriving every live record when the definitions it was derived with are no longer in use.

The derived columns of ``records`` (dataset version, status, errors, missing count, match key,
patient columns, follow-up flags, bone therapy) are what the patient list, the counts, the
worklist and the export's hold-back read. They are computed by the rules from the dataset
definition files, so the store keeps a fingerprint of those files (and of the derivation code's
own version) in its ``meta`` table; at open a different fingerprint means every live record is
derived again, in one transaction with the new fingerprint: a crash part-way leaves the old
values and the old fingerprint, and the next open starts again.

What the fingerprint covers, and why only that: the dataset files in use (bundled and override,
each as merged with the file it is ``based_on``) and ``DERIVATION_VERSION``. The export and
upload profiles change no column of ``records`` (the export keys its own row cache on the
profile), so a corrected profile never costs a re-derivation.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from flsdesk.dataset import DefinitionSet
from flsdesk.rules import RecordHooks
from flsdesk.store import settings as settings_mod
from flsdesk.store.models import Meta
from flsdesk.store.records import (
    DERIVATION_VERSION,
    DERIVED_COLUMNS,
    Evaluator,
    StoreHooks,
    answers_from_json,
    records_table,
)

# meta key holding the fingerprint the live records were last derived with
FINGERPRINT_KEY = "definitions_fingerprint"
# Where stores made before the fingerprint kept a digest (a setting); dropped on re-derivation.
LEGACY_DIGEST_SETTING = "definitions_digest"
CHUNK = 500

Progress = Callable[[int, int], None]  # (records done, records to do)


@dataclass(frozen=True)
class Rederived:
    """What one re-derivation did, for the caller to say once."""

    total: int  # live records derived again
    changed_status: int  # of those, how many have another status now
    changed_missing: int  # ... another missing-question count
    changed_key: int  # ... another match key

    def message(self) -> str:
        noun = "record" if self.changed_status == 1 else "records"
        return f"The dataset definition changed: {self.changed_status} {noun} changed status"

    def notice(self) -> str | None:
        """The sentence to tell the user, once; None for a store with no records to speak of."""
        return self.message() if self.total else None


def fingerprint(definitions: DefinitionSet) -> str:
    """The one place that reads the definitions' digest (it lives on the definition objects)."""
    text = f"derivation {DERIVATION_VERSION}\n{definitions.digest}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_fingerprint(conn: Connection) -> str | None:
    value = conn.execute(select(Meta.value).where(Meta.key == FINGERPRINT_KEY)).scalar()
    return None if value is None else str(value)


def write_fingerprint(conn: Connection, value: str) -> None:
    table = cast(Table, Meta.__table__)
    changed = conn.execute(
        update(table).where(table.c.key == FINGERPRINT_KEY).values(value=value)
    ).rowcount
    if not changed:
        conn.execute(insert(table), [{"key": FINGERPRINT_KEY, "value": value}])
    if conn.dialect.name == "sqlite":
        # Only local stores ever had it; a team database's entry role need not delete settings.
        settings_mod.set_(conn, LEGACY_DIGEST_SETTING, None)


class LiveIndex:
    """The rules' look-ups at other records (``RecordHooks``), answered from memory: every live
    record's key, NHS number and diagnosis date, read once and kept up to date as records are
    derived again. Asked of SQL, two look-ups per record cost more than the evaluation itself.

    Answers exactly as ``StoreHooks`` does over the same rows (the tests compare them).
    """

    def __init__(self, conn: Connection) -> None:
        self._by_key: dict[str, set[int]] = defaultdict(set)
        self._by_patient: dict[str, dict[int, date]] = defaultdict(dict)
        self._of: dict[int, tuple[str | None, str | None, date | None]] = {}
        t = records_table.c
        query = select(t.id, t.match_key, t.nhs_number, t.diagnosed).where(t.deleted_at.is_(None))
        for row in conn.execute(query):
            self.move(row.id, row.match_key, row.nhs_number, row.diagnosed)

    def move(
        self, record_id: int, key: str | None, nhs_number: str | None, diagnosed: date | None
    ) -> None:
        """The record's columns are now these (its new derivation)."""
        old = self._of.get(record_id)
        if old is not None:
            if old[0] is not None:
                self._by_key[old[0]].discard(record_id)
            if old[1] is not None:
                self._by_patient[old[1]].pop(record_id, None)
        self._of[record_id] = (key, nhs_number, diagnosed)
        if key is not None:
            self._by_key[key].add(record_id)
        if nhs_number is not None and diagnosed is not None:
            self._by_patient[nhs_number][record_id] = diagnosed

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        return sorted(i for i in self._by_key.get(key, ()) if i != record_id)

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        low = diagnosed - timedelta(days=days)
        found = [
            (d, i)
            for i, d in self._by_patient.get(nhs_number, {}).items()
            if i != record_id and low < d < diagnosed
        ]
        return [i for _, i in sorted(found)]


class IndexedBatchHooks:
    """``BatchHooks`` answered from a ``LiveIndex``: the live records are read once, and each
    new record of the batch is added to the index as it is evaluated. On a team database every
    SQL look-up is a round trip to the server, two per new record; this makes them none.

    Like ``BatchHooks``, notes the keys whose records were found (``clashes``) so that the
    records evaluated before a later one with their key are evaluated again afterwards.
    """

    def __init__(self, conn: Connection) -> None:
        self._index = LiveIndex(conn)
        self.clashes: set[str] = set()

    def add(self, record_id: int, key: str | None, nhs: str | None, diagnosed: date | None) -> None:
        self._index.move(record_id, key, nhs, diagnosed)

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        found = self._index.same_key(key, record_id)
        if found:
            self.clashes.add(key)
        return found

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        return self._index.earlier_same_patient(nhs_number, diagnosed, days, record_id)


class _Noting:
    """Passes the look-ups on to the index and notes, per record, what was asked and answered."""

    def __init__(self, index: LiveIndex) -> None:
        self._index = index
        self._asked: dict[int | None, list[tuple[tuple[Any, ...], list[int]]]] = defaultdict(list)

    def same_key(self, key: str, record_id: int | None) -> list[int]:
        found = self._index.same_key(key, record_id)
        self._asked[record_id].append(((key, record_id), found))
        return found

    def earlier_same_patient(
        self, nhs_number: str, diagnosed: date, days: int, record_id: int | None
    ) -> list[int]:
        found = self._index.earlier_same_patient(nhs_number, diagnosed, days, record_id)
        self._asked[record_id].append(((nhs_number, diagnosed, days, record_id), found))
        return found

    def answered_otherwise_now(self) -> list[int]:
        """The records one of whose look-ups the index now answers differently."""

        def ask(question: tuple[Any, ...]) -> list[int]:
            if len(question) == 2:
                return self._index.same_key(*question)
            return self._index.earlier_same_patient(*question)

        return sorted(
            rid
            for rid, calls in self._asked.items()
            if rid is not None and any(ask(q) != found for q, found in calls)
        )


def rederive_all(
    conn: Connection, evaluator: Evaluator, progress: Progress | None = None
) -> Rederived:
    """Derive every live record again inside the caller's transaction.

    Duplicate and re-fracture checks look at the other records' key, NHS number and diagnosis
    date, which this very pass is changing; so every look-up a record's evaluation made is
    noted, asked again once all records are done, and the records that would now get another
    answer are evaluated once more. ``progress`` may see its total grow once, for that pass.
    """
    t = records_table.c
    before = {
        row.id: row
        for row in conn.execute(
            select(t.id, t.status, t.missing_count, t.match_key)
            .where(t.deleted_at.is_(None))
            .order_by(t.id)
        )
    }
    ids = list(before)
    total = len(ids)
    index = LiveIndex(conn)
    noting = _Noting(index)

    def watch(row: Any, derived: dict[str, Any]) -> None:
        index.move(row.id, derived["match_key"], derived["nhs_number"], derived["diagnosed"])

    if progress:
        progress(0, total)
    done = 0
    for chunk in _chunks(ids):
        reevaluate(conn, evaluator, chunk, watch, noting)
        done += len(chunk)
        if progress:
            progress(done, total)
    again = noting.answered_otherwise_now()
    if again:
        total += len(again)
        for chunk in _chunks(again):
            reevaluate(conn, evaluator, chunk, hooks=index)
            done += len(chunk)
            if progress:
                progress(done, total)
    status = missing = key = 0
    for row in conn.execute(
        select(t.id, t.status, t.missing_count, t.match_key).where(t.deleted_at.is_(None))
    ):
        old = before.get(row.id)
        if old is None:
            continue
        status += old.status != row.status
        missing += old.missing_count != row.missing_count
        key += old.match_key != row.match_key
    return Rederived(len(ids), status, missing, key)


def reevaluate(
    conn: Connection,
    evaluator: Evaluator,
    ids: Sequence[int],
    watch: Callable[[Any, dict[str, Any]], None] | None = None,
    hooks: RecordHooks | None = None,
) -> None:
    """Update the derived columns of these records where they differ; nobody edited them, so
    no audit entry and no new version."""
    hooks = hooks or StoreHooks(conn)
    t = records_table.c
    for chunk in _chunks(ids):
        rows = conn.execute(select(records_table).where(t.id.in_(chunk))).all()
        updates = []
        for row in rows:
            _, derived = evaluator.evaluate(answers_from_json(row.answers), hooks, row.id)
            if watch is not None:
                watch(row, derived)
            current = row._mapping
            if any(current[k] != v for k, v in derived.items()):
                updates.append({"rid": row.id, **{f"v_{k}": v for k, v in derived.items()}})
        if updates:
            conn.execute(
                update(records_table)
                .where(t.id == bindparam("rid"))
                .values({name: bindparam(f"v_{name}") for name in DERIVED_COLUMNS}),
                updates,
            )


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
