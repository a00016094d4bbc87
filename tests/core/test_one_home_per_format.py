"""A date is formatted for people in one place (flsdesk.answers): no other module of the core or
the window spells the dd/mm/yyyy pattern out, so changing how dates look is one edit."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATTERN = re.compile(r"%d/%m/%Y")
HOME = REPO / "flsdesk" / "answers.py"


def _offenders(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        if path == HOME:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PATTERN.search(line):
                found.append(f"{path}:{number}: {line.strip()}")
    return found


def test_the_date_pattern_lives_in_answers_only() -> None:
    assert PATTERN.search(HOME.read_text(encoding="utf-8"))  # the one home does hold it
    assert _offenders(REPO / "flsdesk") + _offenders(REPO / "ui") == []


def test_the_scan_would_see_a_stray_pattern(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text('when = day.strftime("%d/%m/%Y")\n', encoding="utf-8")
    assert len(_offenders(tmp_path)) == 1
