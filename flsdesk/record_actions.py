"""Rules the window used to hold for actions on a record: what a new fracture copies, when a
deletion reason is complete, and how long a deleted record can be restored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flsdesk.store.records import RETENTION_DAYS, check_delete_reason

if TYPE_CHECKING:
    from flsdesk.store.store import Store

__all__ = ["RETENTION_DAYS", "delete_reason_complete", "new_fracture_prefill"]


def new_fracture_prefill(store: Store, record_id: int) -> dict[str, Any]:
    """The answers a new fracture of the same patient starts with: those its definition's
    ``new_fracture_copies`` names, taken from ``record_id``."""
    record = store.load(record_id)
    copies = store.definitions.get(record.dataset_id).new_fracture_copies
    return {k: v for k, v in record.answers.items() if k in copies}


def delete_reason_complete(reason: str | None, note: str | None) -> bool:
    """True when a deletion could go ahead with this reason and note (the store's own check)."""
    if reason is None:
        return False
    try:
        check_delete_reason(reason, note)
    except ValueError:
        return False
    return True
