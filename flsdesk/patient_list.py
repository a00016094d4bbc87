"""The patient list's queries: search, filter and sort over the store's indexed columns.

The window's table model asks for the ordered ids of everything that matches (one cheap query of
integers), then fetches the visible rows a page at a time. Nothing here evaluates a record in
Python, so a 50,000-record store lists, searches and sorts as fast as SQLite can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from flsdesk.rules import COMPLETE, DRAFT, NEEDS_CORRECTION
from flsdesk.store.models import Record

R = Record.__table__.c


@dataclass(frozen=True)
class Column:
    key: str
    title: str


COLUMNS: tuple[Column, ...] = (
    Column("nhs_number", "NHS number"),
    Column("name", "Name"),
    Column("hospital_number", "Hospital no."),
    Column("date_of_birth", "Date of birth"),
    Column("diagnosed", "Fracture date"),
    Column("site", "Site"),
    Column("status", "Status"),
)
_SORT_COLUMNS = {
    "nhs_number": R.nhs_number,
    "name": R.name,
    "hospital_number": R.hospital_number,
    "date_of_birth": R.date_of_birth,
    "diagnosed": R.diagnosed,
    "site": R.site,
    # Needs correction first when ascending: the most urgent rows on top.
    "status": R.status,
    "updated_at": R.updated_at,
}


@dataclass(frozen=True)
class ListQuery:
    search: str = ""
    statuses: frozenset[str] = field(default_factory=frozenset)  # empty = every status
    deleted: bool = False
    sort: str = "diagnosed"
    descending: bool = True


@dataclass(frozen=True)
class ListRow:
    id: int
    nhs_number: str | None
    name: str | None
    hospital_number: str | None
    date_of_birth: date | None
    diagnosed: date | None
    site: str | None
    status: str
    missing_count: int
    deleted_at: datetime | None

    def value(self, key: str) -> Any:
        return getattr(self, key)


@dataclass(frozen=True)
class Summary:
    total: int
    drafts: int
    needs_correction: int
    complete: int
    deleted: int


def format_nhs(value: str | None) -> str:
    """3-3-4, as printed on NHS cards; OVERSEAS and odd values as they are."""
    if value and len(value) == 10 and value.isdigit():
        return f"{value[:3]} {value[3:6]} {value[6:]}"
    return value or ""


def status_text(status: str, missing: int) -> str:
    if status == DRAFT and missing:
        return f"Draft ({missing} missing)"
    return status


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_clause(text: str) -> ColumnElement[bool] | None:
    text = text.strip()
    if not text:
        return None
    clauses: list[ColumnElement[bool]] = []
    compact = text.replace(" ", "").replace("-", "")
    if compact.isdigit():
        clauses.append(R.nhs_number.like(_escape_like(compact) + "%", escape="\\"))
    pattern = "%" + _escape_like(text) + "%"
    clauses.append(R.name.like(pattern, escape="\\"))
    clauses.append(R.hospital_number.like(pattern, escape="\\"))
    if compact != text and not compact.isdigit():
        clauses.append(R.hospital_number.like("%" + _escape_like(compact) + "%", escape="\\"))
    return or_(*clauses)


def _where(query: ListQuery) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = [
        R.deleted_at.is_not(None) if query.deleted else R.deleted_at.is_(None)
    ]
    if query.statuses:
        parts.append(R.status.in_(sorted(query.statuses)))
    search = _search_clause(query.search)
    if search is not None:
        parts.append(search)
    return and_(*parts)


def matching_ids(engine: Engine, query: ListQuery) -> list[int]:
    """Every matching record id, in display order (ties broken by id so the order is stable)."""
    column = _SORT_COLUMNS.get(query.sort, R.diagnosed)
    order = column.desc() if query.descending else column.asc()
    # NULLs last either way: an unanswered date should not push real rows off the screen.
    stmt = (
        select(R.id)
        .where(_where(query))
        .order_by(column.is_(None), order, R.id.desc() if query.descending else R.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def rows_for(engine: Engine, ids: Sequence[int]) -> dict[int, ListRow]:
    if not ids:
        return {}
    stmt = select(
        R.id,
        R.nhs_number,
        R.name,
        R.hospital_number,
        R.date_of_birth,
        R.diagnosed,
        R.site,
        R.status,
        R.missing_count,
        R.deleted_at,
    ).where(R.id.in_(list(ids)))
    with engine.connect() as conn:
        return {row.id: ListRow(*row) for row in conn.execute(stmt)}


def summary(engine: Engine) -> Summary:
    live = R.deleted_at.is_(None)
    stmt = select(
        func.count().filter(live),
        func.count().filter(and_(live, R.status == DRAFT)),
        func.count().filter(and_(live, R.status == NEEDS_CORRECTION)),
        func.count().filter(and_(live, R.status == COMPLETE)),
        func.count().filter(R.deleted_at.is_not(None)),
    ).select_from(Record.__table__)
    with engine.connect() as conn:
        total, drafts, needs, complete, deleted = conn.execute(stmt).one()
    return Summary(total, drafts, needs, complete, deleted)
