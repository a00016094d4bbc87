"""What the form and the status bar ask about sending: was this record sent, how long since."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from flsdesk.exchange import batches
from flsdesk.exchange.exporting.scope import Scope
from flsdesk.store.store import Store


def was_exported(store: Store, record_id: int) -> bool:
    """Whether this record's row was *sent* (uploaded, or its file marked uploaded in the
    webtool): edits then ask for a reason. A file only saved does not count."""
    with store.engine.connect() as conn:
        return batches.was_sent(conn, record_id)


def days_since_last_sent(store: Store, today: date) -> int | None:
    """Whole days since the newest *sent* batch, or None when nothing was ever sent."""
    day = batches.last_sent_day(store)
    return None if day is None else max(0, (today - day).days)


def days_since_last_export(store: Store, today: date) -> int | None:
    """Whole days since the newest file saved (sent or not), or None when there is none."""
    day = batches.last_export_day(store)
    return None if day is None else max(0, (today - day).days)


OVERDUE_DAYS = 31  # the FLS-DB asks for an upload at least monthly (FAQ 8)


@dataclass(frozen=True)
class SendingAge:
    """The status bar's line about sending: the text, and whether it is overdue (red)."""

    text: str
    overdue: bool


def sending_age(store: Store, today: date) -> SendingAge:
    """Days since the last *sent* batch. A store that has never exported is not overdue
    until it is older than a month (a new store has nothing to send yet)."""
    sent = days_since_last_sent(store, today)
    if sent is not None:
        text = "Sent today" if sent == 0 else f"{sent} day(s) since the last sent export"
        return SendingAge(text, sent > OVERDUE_DAYS)
    saved = days_since_last_export(store, today)
    created = store_created(store)
    old_store = created is not None and (today - created).days > OVERDUE_DAYS
    if saved is None:
        return SendingAge("Never exported", old_store)
    return SendingAge(
        "Never sent: the saved file is not marked as uploaded (Outbox)",
        saved > OVERDUE_DAYS or old_store,
    )


def store_created(store: Store) -> date | None:
    with store.engine.connect() as conn:
        value = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'created_at'").scalar()
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone().date()


def last_export_folder(store: Store) -> Path:
    """The folder the newest export was saved in, while it exists; else the home folder."""
    for batch in batches.list_batches(store):
        if batch.scope != batches.EXTERNAL_SCOPE and batch.file_path.parent.is_dir():
            return batch.file_path.parent
    return Path.home()


def default_file_name(store: Store, scope: Scope) -> str:
    """A file name holding no patient data: the date and the scope."""
    stamp = store.now().replace(tzinfo=UTC).astimezone().strftime("%Y-%m-%d")
    suffix = {"since-last": "new-or-changed", "all": "all"}.get(
        scope.kind, f"{scope.year:04d}-{scope.month:02d}"
    )
    return f"flsdb-export-{stamp}-{suffix}.csv"
