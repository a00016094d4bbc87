"""The KPI data file: what it holds, overriding it, and its problems reported all at once; and
the annual cycle's dates (FAQ 29), which it also holds."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from flsdesk.datafiles import DataFileError
from flsdesk.kpi import annual
from flsdesk.kpi.definitions import DateWithin, TabApplies, load_kpis, parse_kpis
from flsdesk.paths import resolve

BUNDLED = load_kpis()


def _raw() -> dict:
    return tomllib.loads(BUNDLED.path.read_text(encoding="utf-8"))


def test_the_bundled_file_holds_the_spec() -> None:
    k = BUNDLED
    assert [d.number for d in k.kpis] == list(range(1, 12))
    assert {d.number: d.national for d in k.kpis if d.national is not None} == {
        2: 37.1,
        3: 17.9,
        4: 70.0,
        5: 46.8,
        6: 62.0,
        7: 52.5,
        8: 6.1,
        9: 20.7,
        10: 22.9,
        11: 20.8,
    }
    assert k.national.year == 2019 and "69,926" in k.national.source
    assert (k.kpi(3).band.green_from, k.kpi(3).band.red_below) == (20.0, 10.0)
    assert (k.kpi(7).band.green_from, k.kpi(7).band.red_below) == (50.0, 50.0)
    assert (k.kpi(9).band.green_from, k.kpi(9).band.red_below) == (80.0, 50.0)
    assert {d.number: d.due_after_days for d in k.kpis if d.due_after_days} == {
        4: 90,
        5: 90,
        8: 112,
        9: 112,
        10: 112,
        11: 392,
    }
    assert k.kpi(4).numerator == (DateWithin("1.07", "1.09", 90),)
    assert TabApplies("followup") in k.kpi(9).denominator
    assert k.kpi(4).sourced and not k.kpi(5).sourced  # only KPI 4's denominator is published
    assert k.kpi2.reading == "all"
    assert k.kpi(2).target == 80.0 and k.kpi(7).target == 50.0
    assert k.breakdowns.age_band_labels() == ["50–59", "60–69", "70–79", "80–89", "90+"]
    assert k.breakdowns.age_band(49) is None and k.breakdowns.age_band(90) == "90+"


def test_an_override_replaces_the_bundled_file(tmp_path: Path) -> None:
    paths = resolve(tmp_path / "data")
    paths.overrides_dir.mkdir(parents=True)
    text = BUNDLED.path.read_text(encoding="utf-8").replace("national = 70.0", "national = 64.2")
    (paths.overrides_dir / BUNDLED.path.name).write_text(text, encoding="utf-8")
    k = load_kpis(paths)
    assert k.source == "override"
    assert k.kpi(4).national == 64.2


def test_every_problem_is_reported_with_where_it_is(tmp_path: Path) -> None:
    raw = _raw()
    raw["kpis"][3]["due_after_days"] = -1
    raw["kpis"][4]["formula"] = "magic"
    raw["kpis"][5]["numerator"] = [{"question": "5.01", "maybe": ["x"]}]
    raw["kpis"][6]["green_from"] = "high"
    raw["kpis"][8]["numerator"] = [{"date": "6.02", "from": "1.09"}]
    raw["kpi2"]["reading"] = "some"
    raw["annual"]["deadline_month"] = 13
    raw["kpis"].append(dict(raw["kpis"][0]))
    with pytest.raises(DataFileError) as caught:
        parse_kpis(raw, tmp_path / "flsdb-kpis.toml")
    text = str(caught.value)
    for expected in (
        "KPI 4: 'due_after_days'",
        "KPI 5: 'formula' is 'magic'",
        "KPI 6 numerator[1]: unknown operator 'maybe'",
        "KPI 7: 'green_from' must be a number",
        "KPI 9 numerator[1]: a date clause",
        "[kpi2]: 'reading' is 'some'",
        "[annual]: deadline_month/deadline_day is not a day of the year",
        "KPI 1: appears twice",
    ):
        assert expected in text, (expected, text)
    assert all(line.startswith("flsdb-kpis.toml: ") for line in text.splitlines())


def test_deadline_and_report_year() -> None:
    assert annual.deadline(2025) == date(2026, 5, 31)
    # The year whose deadline is next: 2025's until 31/05/2026, then 2026's.
    assert annual.default_report_year(date(2026, 1, 1)) == 2025
    assert annual.default_report_year(date(2026, 5, 31)) == 2025
    assert annual.default_report_year(date(2026, 6, 1)) == 2026
    assert annual.default_report_year(date(2026, 12, 31)) == 2026


def test_days_left_from_the_first_of_march() -> None:
    assert annual.days_left(date(2026, 2, 28), 2025) is None
    assert annual.days_left(date(2026, 3, 1), 2025) == 91
    assert annual.days_left(date(2026, 5, 30), 2025) == 1
    assert annual.days_left(date(2026, 5, 31), 2025) == 0
    assert annual.days_left(date(2026, 6, 1), 2025) is None
    # A leap year's February does not shift the count: 1 March 2028 to 31 May 2028.
    assert annual.days_left(date(2028, 3, 1), 2027) == 91


def test_the_deadline_rule_is_data(tmp_path: Path) -> None:
    raw = _raw()
    raw["annual"]["deadline_month"] = 6
    raw["annual"]["deadline_day"] = 30
    raw["annual"]["countdown_from_month"] = 4
    k = parse_kpis(raw, tmp_path / "k.toml")
    assert annual.deadline(2025, k) == date(2026, 6, 30)
    assert annual.days_left(date(2026, 3, 31), 2025, k) is None
    assert annual.days_left(date(2026, 4, 1), 2025, k) == 90
    assert annual.default_report_year(date(2026, 6, 15), k) == 2025
