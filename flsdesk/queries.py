"""What the window reads, through one read-only object over a ``Store``.

The front end holds no database engine and writes no query: every list, count and history it
shows is asked for here, so a second storage engine (issue 14) has one place to answer from.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy

from flsdesk import followups as fu
from flsdesk import patient_list as pl

if TYPE_CHECKING:
    from flsdesk.store.store import Store


class StoreQueries:
    """Read-only views of one open store for the window."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- the patient list ------------------------------------------------------------------

    def matching_ids(self, query: pl.ListQuery) -> list[int]:
        return pl.matching_ids(self._store.engine, query)

    def rows_for(self, ids: Sequence[int]) -> dict[int, pl.ListRow]:
        return pl.rows_for(self._store.engine, ids)

    def row(self, record_id: int) -> pl.ListRow:
        return self.rows_for([record_id])[record_id]

    def summary(self) -> pl.Summary:
        return pl.summary(self._store.engine)

    def why(self, record_id: int) -> str:
        return pl.why(self._store, record_id)

    # -- follow-ups ------------------------------------------------------------------------

    def list_followups(
        self, record_ids: Iterable[int]
    ) -> dict[int, fu.NextFollowup | fu.EndedFollowup]:
        store = self._store
        return fu.list_followups(store.engine, store.definitions, record_ids, store.today())

    def worklist(self, on: date, states: Collection[str] = fu.OPEN_STATES) -> list[fu.FollowupRow]:
        return fu.worklist(self._store.engine, self._store.definitions, on, states)

    def followup_counts(self, on: date) -> dict[str, int]:
        return fu.counts(self._store.engine, self._store.definitions, on)

    def call_attempts(self, record_id: int) -> list[fu.CallAttemptInfo]:
        return fu.call_attempts(self._store.engine, record_id)

    # -- about -----------------------------------------------------------------------------

    def component_versions(self) -> dict[str, str]:
        """SQLAlchemy's version and the store's SQLCipher version (a team database: its
        server's PostgreSQL version), for Help → About."""
        with self._store.engine.connect() as conn:
            if self._store.is_team:
                server = conn.exec_driver_sql("SHOW server_version").scalar()
                return {"SQLAlchemy": sqlalchemy.__version__, "PostgreSQL": str(server)}
            cipher = conn.exec_driver_sql("PRAGMA cipher_version").scalar()
        return {"SQLAlchemy": sqlalchemy.__version__, "SQLCipher": str(cipher)}


def library_versions() -> dict[str, str]:
    """Versions that need no open store."""
    return {"SQLAlchemy": sqlalchemy.__version__}
