"""The fixed set of made-up records behind the golden export files, and small helpers.

Every patient here is invented; the NHS numbers are valid Modulus 11 numbers made for tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flsdesk.store.store import Store
from tests.helpers.conftest_records import nhs_number

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "export"

NHS_A = nhs_number(401023213)
NHS_B = nhs_number(943476591)
NHS_C = nhs_number(654123789)
NHS_D = nhs_number(450557710)

CHECKED = {"optout_status": "Checked, not opted out", "optout_date": "2025-05-01"}


def _base(nhs: str, diagnosed: str, **extra: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "1.01": nhs,
        "1.02": "1950-03-04",
        "1.03": "Female",
        "1.05": "No",
        "1.06": diagnosed,
        "1.07": diagnosed,
        "1.08": "No",
        "1.09": diagnosed,
        "1.11": "Wrist",
        "3.01": "Not ordered",
        "4.01": ["Inappropriate"],
        "5.01": "Not assessed",
        "name": "Local Only Name",
        "hospital_number": "H0000001",
        **CHECKED,
    }
    answers.update(extra)
    return answers


def golden_records() -> list[dict[str, Any]]:
    """In creation order. The comments say what each covers."""
    return [
        # 0: OVERSEAS; the apostrophe answer; numbers whole and decimal (negative); 3.03 "Patient
        # did not attend" in the date's column; a multi answer stored out of definition order;
        # a post code with a comma (a quoted cell); text, single, local fields (absent).
        _base(
            "OVERSEAS",
            "2024-03-01",
            **{
                "1.02": "1949-12-31",
                "1.04": "AB1,2CD",
                "1.05": "Don't know",
                "1.10": "Incidental (radiological)",
                "2.01": 165,
                "2.02": 62.5,
                "2.03": "Don't know",
                "3.01": "Ordered or recommended",
                "3.03": "Patient did not attend",
                "3.04": -2.7,
                "3.05": 12,
                "4.01": ["Denosumab", "Alendronate"],
                "4.02": "Calcium and vitamin D combined",
                "5.01": "Assessed by FLS",
                "5.10": ["GP", "Falls service"],
                "notes": "Local note, never exported",
            },
        ),
        # 1: a hip fracture with follow-up: 6.06 is answered but hidden for hips (empty cell);
        # 7.06 > 0 shows 7.07.
        _base(
            NHS_B,
            "2024-02-10",
            **{
                "1.03": "Male",
                "1.11": "Hip",
                "1.12": "Wrist",
                "4.01": ["Zoledronate"],
                "6.01": "Yes",
                "6.02": "2024-05-20",
                "6.03": "Yes",
                "6.05": "Don't know",
                "6.06": "Yes",
                "7.01": "Yes",
                "7.02": "2025-02-01",
                "7.05": "Zoledronate",
                "7.06": 2,
                "7.07": "Humerus",
            },
        ),
        # 2: same diagnosis date as 1 but a lower NHS number: written before it.
        _base(NHS_A, "2024-02-10", **{"1.11": "Spine", "2.05": "No", "6.01": "No"}),
        # 3: OVERSEAS diagnosed the same day as 0 (other fallback key), created later: after 0.
        _base("OVERSEAS", "2024-03-01", **{"1.02": "1940-01-01", "1.03": "Male"}),
        # 4: a draft (lite questions missing): exported all the same.
        {"1.01": NHS_C, "1.02": "1945-06-06", "1.09": "2025-01-15", **CHECKED},
    ]


def add_golden(store: Store) -> list[int]:
    return [store.new_record(a) for a in golden_records()]


def held_back_records() -> list[dict[str, Any]]:
    """0: Needs correction (an impossible NHS number); 1: opted out; 2: opt-out not checked."""
    bad = _base("1234567890", "2024-04-01")
    opted = _base(NHS_D, "2024-04-02", optout_status="Opted out", optout_date="2025-05-02")
    unchecked = _base(nhs_number(312312312), "2024-04-03")
    del unchecked["optout_status"], unchecked["optout_date"]
    return [bad, opted, unchecked]
