"""Golden-file update mode (FLSDESK_UPDATE_GOLDEN=1) must never run under CI: there it would
rewrite the files it compares with and every export comparison would pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.export_records import GOLDEN

REPO = Path(__file__).resolve().parents[2]


def _run_golden_tests(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "golden",
            "tests/exchange/test_export.py",
        ],
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow  # a whole pytest run in a subprocess
def test_update_mode_under_ci_stops_the_run_and_touches_nothing():
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in GOLDEN.glob("*.csv")}
    assert before, "no golden files found"

    result = _run_golden_tests(CI="true", FLSDESK_UPDATE_GOLDEN="1")

    assert result.returncode != 0, result.stdout + result.stderr
    assert "golden files are never rewritten in CI" in result.stdout + result.stderr
    assert " passed" not in result.stdout
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in GOLDEN.glob("*.csv")}
    assert after == before


@pytest.mark.slow  # a whole pytest run in a subprocess
def test_without_update_mode_ci_compares_as_usual():
    result = _run_golden_tests(CI="true", FLSDESK_UPDATE_GOLDEN="0")

    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
