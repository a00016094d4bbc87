"""A small service for the KPI dashboard and report tests: a real encrypted store whose clock
stands on 20 March 2026 (report year 2025, 72 days before its FLS-DB deadline), holding a few
2025 fractures whose KPI 4 and 5 states are known, and one 2024 fracture."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flsdesk import session
from flsdesk.paths import resolve
from flsdesk.store.settings import ESTIMATED_ANNUAL_CASELOAD
from flsdesk.store.store import Store
from tests.helpers.conftest_records import complete_answers, nhs_number

PASSPHRASE = "correct horse battery staple"
TODAY = date(2026, 3, 20)
SERVICE = "Northtown FLS"


@dataclass
class Service:
    store: Store
    ids: dict[str, int]
    nhs: dict[str, str]
    names: dict[str, str]


def _answers(key: str, body: int, diagnosed: date, **extra: Any) -> dict[str, Any]:
    answers = complete_answers(nhs_number(body), diagnosed, **extra)
    answers["name"] = f"Patient {key.capitalize()}"
    return answers


def make_service(with_records: bool = True) -> Service:
    created = session.create(
        resolve(None),
        PASSPHRASE,
        "AB",
        SERVICE,
        "RXX01",
        clock=lambda: datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC),
    )
    store = created.store
    store.set_setting(ESTIMATED_ANNUAL_CASELOAD, 50)
    records: dict[str, dict[str, Any]] = {
        # Assessed on day 20, DXA on day 30: in both KPI 4 and KPI 5's numerators.
        "hit": _answers(
            "hit",
            111111110,
            date(2025, 2, 10),
            **{"3.01": "Ordered or recommended", "3.03": "2025-03-12"},
        ),
        # Assessed on day 127: misses KPI 4; no DXA: misses KPI 5.
        "late": _answers("late", 222222220, date(2025, 3, 5), **{"1.07": "2025-07-10"}),
        # Day 80 today: not yet due for the 90-day KPIs.
        "recent": _answers(
            "recent", 333333330, date(2025, 12, 30), **{"1.07": None, "6.01": None, "7.01": None}
        ),
        "spine": _answers("spine", 444444440, date(2025, 6, 1), **{"1.11": "Spine"}),
        "other_year": _answers("other_year", 555555550, date(2024, 5, 20)),
    }
    if not with_records:
        return Service(store, {}, {}, {})
    draft = _answers("draft", 666666660, date(2025, 4, 15))
    del draft["1.07"], draft["3.01"]
    records["draft"] = draft
    ids = {key: store.new_record(answers) for key, answers in records.items()}
    return Service(
        store,
        ids,
        {key: str(a["1.01"]) for key, a in records.items()},
        {key: str(a["name"]) for key, a in records.items()},
    )
