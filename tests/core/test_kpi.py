"""The KPI engine against a hand-built set of records whose every KPI is worked out by hand here
(spec section 6; issue 15 point 7).

The set (period: the audit year 2024; today 02/06/2025; ``complete_answers`` is a wrist fracture,
assessed on day 20, DXA not ordered, falls "Not assessed", Alendronate recommended, both
follow-ups answered "No"):

    r1  10/01/2024  baseline, but 1.08 unanswered (a draft)
    r2  01/02/2024  Spine, male; assessed day 90, DXA day 90, referred for falls assessment,
                    16-week follow-up Yes on day 112 with Alendronate and strength and balance,
                    52-week follow-up Yes with Denosumab
    r3  01/03/2024  Hip, aged 90; assessed day 91, DXA ordered but "Patient did not attend",
                    falls assessment recommended, therapy "Informed decline" (no follow-up tab)
    r4  01/04/2024  aged 50; assessed day 0; DXA not ordered but a DXA date typed (hidden);
                    1.13 = Hip without 1.12 (hidden: 6.06 still applies); assessed by FLS;
                    16-week follow-up Yes on day 113, "Not started", strength and balance Yes
    r5  01/05/2024  a draft: no 1.06, 1.07 or 1.08
    r6  15/05/2024  Spine, aged under 50: an error, left out of everything
    r7  10/06/2024  Spine, deleted: left out
    r8  01/06/2024  52-week follow-up Yes with a drug, but day 366 today: KPI 11 not yet due
    r9  31/12/2023  Spine, outside the period
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from flsdesk.kpi import completeness as comp
from flsdesk.kpi import engine
from flsdesk.kpi.definitions import Band, load_kpis
from flsdesk.store import settings as store_settings
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)

TODAY = date(2025, 6, 2)
YEAR = engine.Period.year(2024)


def _on(diagnosed: date, days: int) -> str:
    return (diagnosed + timedelta(days=days)).isoformat()


def _record(n: int, diagnosed: date, drop: tuple[str, ...] = (), **answers: Any) -> dict[str, Any]:
    base = complete_answers(nhs_number(100_000_000 + n * 1000), diagnosed)
    base.update({k.replace("_", "."): v for k, v in answers.items()})
    for key in drop:
        base.pop(key, None)
    return base


@pytest.fixture
def ids(store: Store) -> dict[str, int]:
    d1, d2, d3, d4 = date(2024, 1, 10), date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)
    d5, d6, d7, d8 = date(2024, 5, 1), date(2024, 5, 15), date(2024, 6, 10), date(2024, 6, 1)
    records = {
        "r1": _record(1, d1, drop=("1.08",)),
        "r2": _record(
            2,
            d2,
            **{
                "1.03": "Male",
                "1.11": "Spine",
                "1.07": _on(d2, 90),
                "3.01": "Ordered or recommended",
                "3.03": _on(d2, 90),
                "5.01": "Referred for falls assessment",
                "6.01": "Yes",
                "6.02": _on(d2, 112),
                "6.05": "Alendronate",
                "6.06": "Yes",
                "7.01": "Yes",
                "7.02": _on(d2, 365),
                "7.05": "Denosumab",
            },
        ),
        "r3": _record(
            3,
            d3,
            **{
                "1.02": "1934-01-01",
                "1.11": "Hip",
                "1.07": _on(d3, 91),
                "3.01": "Ordered or recommended",
                "3.03": "Patient did not attend",
                "5.01": "Recommended falls assessment",
                "4.01": ["Informed decline"],
            },
        ),
        "r4": _record(
            4,
            d4,
            **{
                "1.02": "1974-03-01",
                "1.07": _on(d4, 0),
                "3.03": _on(d4, 10),
                "1.13": "Hip",
                "5.01": "Assessed by FLS",
                "6.01": "Yes",
                "6.02": _on(d4, 113),
                "6.05": "Not started",
                "6.06": "Yes",
            },
        ),
        "r5": _record(5, d5, drop=("1.06", "1.07", "1.08")),
        "r6": _record(6, d6, **{"1.02": "1990-01-01", "1.11": "Spine"}),
        "r7": _record(7, d7, **{"1.11": "Spine"}),
        "r8": _record(8, d8, **{"7.01": "Yes", "7.02": "2025-05-20", "7.05": "Alendronate"}),
        "r9": _record(9, date(2023, 12, 31), **{"1.11": "Spine"}),
    }
    out = {name: store.new_record(answers) for name, answers in records.items()}
    store.delete(out["r7"], "Test record")
    return out


def _ids(names: str, ids: dict[str, int]) -> set[int]:
    return {ids[n] for n in names.split()}


def test_the_set_is_what_the_test_says(store: Store, ids: dict[str, int]) -> None:
    """The rules agree with the story above: two drafts, one error, the rest complete."""
    status = {name: store.load(i).status for name, i in ids.items()}
    assert status["r1"] == status["r5"] == "Draft"
    assert status["r6"] == "Needs correction"
    for name in ("r2", "r3", "r4", "r8", "r9"):
        assert status[name] == "Complete", name


def test_every_kpi_worked_out_by_hand(store: Store, ids: dict[str, int]) -> None:
    store.set_setting(store_settings.ESTIMATED_ANNUAL_CASELOAD, 73)
    report = engine.compute(store, YEAR, TODAY)
    got = {r.number: (r.numerator, r.denominator, r.not_yet_due, r.band) for r in report.results}
    # Counted: r1 r2 r3 r4 r5 r8 (r6 has an error, r7 is deleted, r9 is another year).
    assert report.records_counted == 6
    assert report.records_with_errors == 1
    # KPI 1: 20 lite questions apply to some record; only 1.08 is missing in more than 20 %
    # of the records where it applies (r1, r5: 2 of 6); 1.06 and 1.07 in 1 of 6 each.
    assert got[1] == (1, 20, 0, "green")
    assert report.result(1).weak_fields == ("1.08",)
    assert "1.08" in report.result(1).note
    # KPI 2: 6 records against 73 a year pro-rated to 2024's 366 days (73.2): 8.2 %.
    assert got[2] == (6, 73, 0, "red")
    assert report.result(2).percent == pytest.approx(100 * 6 / (73 * 366 / 365))
    # KPI 3: r2 only is a spine fracture: 1 of 6 = 16.7 % (amber between 10 and 20).
    assert got[3] == (1, 6, 0, "amber")
    # KPI 4: r1 (day 20), r2 (day 90), r4 (day 0), r8 (day 20); r3 day 91 and r5 none miss.
    assert got[4] == (4, 6, 0, "amber")
    assert report.result(4).percent == pytest.approx(400 / 6)
    # KPI 5: only r2 (day 90); r3 did not attend, r4's date is hidden (3.01 Not ordered).
    assert got[5] == (1, 6, 0, "red")
    # KPI 6: r2 referred, r3 recommended, r4 assessed: 3 of 6 = exactly 50 %: amber, not red.
    assert got[6] == (3, 6, 0, "amber")
    assert report.result(6).percent == 50.0
    # KPI 7: all but r3 (informed decline): 5 of 6.
    assert got[7] == (5, 6, 0, "green")
    # KPI 8: follow-up tab and no hip: r1 r2 r4 (its 1.13 Hip is hidden) r5 r8; 6.06 Yes in
    # r2 and r4: 2 of 5 = 40 %.
    assert got[8] == (2, 5, 0, "red")
    # KPI 9: the same five; only r2 followed up by day 112 (r4 on day 113): 1 of 5.
    assert got[9] == (1, 5, 0, "red")
    assert report.result(9).percent == 20.0
    # KPI 10: drug recommended (r1 r2 r4 r5 r8); a drug at 16 weeks only in r2.
    assert got[10] == (1, 5, 0, "red")
    # KPI 11: r8 is on day 366: not yet due, left out and counted; r2 of r1 r2 r4 r5.
    assert got[11] == (1, 4, 1, "red")
    assert report.result(11).percent == 25.0
    assert report.kpi2_reading == "all records"
    assert "73" in report.caseload_note
    for r in report.results:
        assert r.band_words
    assert report.result(4).national == 70.0
    assert report.result(7).target == 50.0


def test_without_a_caseload_kpi2_says_so(store: Store, ids: dict[str, int]) -> None:
    report = engine.compute(store, YEAR, TODAY)
    kpi2 = report.result(2)
    assert kpi2.percent is None and kpi2.band is None and kpi2.band_words == "no data"
    assert "No estimated annual caseload" in kpi2.note
    assert "No estimated annual caseload" in report.caseload_note


def test_an_empty_period_is_no_data_not_zero(store: Store, ids: dict[str, int]) -> None:
    report = engine.compute(store, engine.Period.year(2022), TODAY)
    assert report.records_counted == 0
    for r in report.results:
        assert r.percent is None, r.number
        assert r.band is None and r.band_words == "no data", r.number


def test_monthly_series(store: Store, ids: dict[str, int]) -> None:
    report = engine.compute(store, YEAR, TODAY)
    months = report.monthly[4]
    assert [m for m, _ in months] == [date(2024, m, 1) for m in range(1, 13)]
    by_month = {m.month: r for m, r in months}
    assert (by_month[1].numerator, by_month[1].denominator) == (1, 1)  # r1
    assert (by_month[3].numerator, by_month[3].denominator) == (0, 1)  # r3, day 91
    assert by_month[3].band == "red"
    assert by_month[6].denominator == 1  # r8 (r7 deleted)
    assert by_month[7].percent is None and by_month[7].band_words == "no data"
    assert sum(r.not_yet_due for _, r in report.monthly[11]) == 1


def test_breakdowns(store: Store, ids: dict[str, int]) -> None:
    report = engine.compute(store, YEAR, TODAY)
    site = report.breakdowns["site"]
    assert list(site) == ["Spine", "Hip", "Wrist"]  # the definition's order
    # KPI 4 by site: Spine r2 hit; Hip r3 miss; Wrist r1 r4 r8 hit, r5 miss.
    assert (site["Spine"][4].numerator, site["Spine"][4].denominator) == (1, 1)
    assert (site["Hip"][4].numerator, site["Hip"][4].denominator) == (0, 1)
    assert (site["Wrist"][4].numerator, site["Wrist"][4].denominator) == (3, 4)
    assert site["Wrist"][4].percent == 75.0
    gender = report.breakdowns["gender"]
    assert set(gender) == {"Male", "Female"}
    assert gender["Male"][3].numerator == 1 and gender["Female"][3].numerator == 0
    age = report.breakdowns["age"]
    # r3 is 90 on 01/03/2024 (90+), r4 50 on 01/04/2024 (50–59), the rest 73 or 74.
    assert list(age) == ["50–59", "70–79", "90+"]
    assert age["90+"][7].denominator == 1 and age["90+"][7].numerator == 0
    assert age["50–59"][4].numerator == 1
    assert age["70–79"][4].denominator == 4
    assert set(report.breakdowns["care home"]) == {"No"}
    assert 2 not in site["Spine"]  # the caseload is not known per group


MISSED = {
    3: "r1 r3 r4 r5 r8",
    4: "r3 r5",
    5: "r1 r3 r4 r5 r8",
    6: "r1 r5 r8",
    7: "r3",
    8: "r1 r5 r8",
    9: "r1 r4 r5 r8",
    10: "r1 r4 r5 r8",
    11: "r1 r4 r5",
}


@pytest.mark.parametrize("kpi", sorted(MISSED))
def test_missed_lists(store: Store, ids: dict[str, int], kpi: int) -> None:
    found = engine.missed(store, kpi, YEAR, TODAY)
    assert {m.record_id for m in found} == _ids(MISSED[kpi], ids)
    assert [m.diagnosed for m in found] == sorted(m.diagnosed for m in found)
    # The report's own lists say the same, without reading the store again.
    report = engine.compute(store, YEAR, TODAY)
    assert report.missed(kpi) == found
    assert all(m.tab for m in found)


def test_missed_wording_and_tab(store: Store, ids: dict[str, int]) -> None:
    found = {m.record_id: m for m in engine.missed(store, 4, YEAR, TODAY)}
    r3 = found[ids["r3"]]
    # 01/03/2024 to 02/06/2025: 365 + 93 days.
    assert r3.what_is_missing == (
        "no FLS assessment recorded within 90 days — fracture 01/03/2024, day 458 today"
    )
    assert r3.tab == "patient"
    assert r3.nhs_number == store.load(ids["r3"]).answers["1.01"]
    assert {m.tab for m in engine.missed(store, 5, YEAR, TODAY)} == {"dxa"}
    assert {m.tab for m in engine.missed(store, 9, YEAR, TODAY)} == {"followup"}


def test_kpis_without_a_record_list(store: Store, ids: dict[str, int]) -> None:
    assert engine.missed(store, 1, YEAR, TODAY) == []
    assert engine.missed(store, 2, YEAR, TODAY) == []
    with pytest.raises(KeyError, match="no KPI 12"):
        engine.missed(store, 12, YEAR, TODAY)


def test_not_yet_due(store: Store, ids: dict[str, int]) -> None:
    rows = engine.not_yet_due(store, 11, YEAR, TODAY)
    assert [(r.record_id, r.due_on) for r in rows] == [(ids["r8"], date(2025, 6, 29))]
    assert engine.compute(store, YEAR, TODAY).not_yet_due(11) == rows
    assert engine.not_yet_due(store, 4, YEAR, TODAY) == []
    assert engine.not_yet_due(store, 3, YEAR, TODAY) == []  # not time-bound
    # On 29/06/2025 r8 enters KPI 11: it has a drug at 52 weeks, so it counts as met.
    later = date(2025, 6, 29)
    assert engine.not_yet_due(store, 11, YEAR, later) == []
    kpi11 = engine.compute(store, YEAR, later).result(11)
    assert (kpi11.numerator, kpi11.denominator, kpi11.not_yet_due) == (2, 5, 0)


def test_recent_records_are_not_yet_due_for_the_90_day_kpis(store: Store) -> None:
    """Day 90 is still inside the window (0 ≤ days ≤ 90): such a record is not yet due,
    neither met nor missed, until day 91."""
    diagnosed = date(2025, 3, 4)  # day 90 on 02/06/2025
    met = store.new_record(_record(20, diagnosed, **{"1.07": _on(diagnosed, 30)}))
    unmet = store.new_record(_record(21, diagnosed, drop=("1.07",)))
    period = engine.Period(date(2025, 1, 1), TODAY)
    kpi4 = engine.compute(store, period, TODAY).result(4)
    assert (kpi4.numerator, kpi4.denominator, kpi4.not_yet_due) == (0, 0, 2)
    assert kpi4.band is None  # nothing due yet: no data
    due = engine.not_yet_due(store, 4, period, TODAY)
    assert [r.due_on for r in due] == [date(2025, 6, 3)] * 2
    assert engine.missed(store, 4, period, TODAY) == []
    next_day = TODAY + timedelta(days=1)
    kpi4 = engine.compute(store, period, next_day).result(4)
    assert (kpi4.numerator, kpi4.denominator, kpi4.not_yet_due) == (1, 2, 0)
    assert [m.record_id for m in engine.missed(store, 4, period, next_day)] == [unmet]
    assert met != unmet


@pytest.mark.parametrize(
    ("spines", "total", "band"),
    [(2, 10, "green"), (1, 10, "amber"), (1, 11, "red")],
    ids=["20% is green", "10% is amber", "9.1% is red"],
)
def test_band_edges_with_records(store: Store, spines: int, total: int, band: str) -> None:
    """KPI 3's own bands: green from 20 %, red below 10 % (spec section 6)."""
    for n in range(total):
        site = "Spine" if n < spines else "Wrist"
        store.new_record(_record(40 + n, date(2024, 1, 10), **{"1.11": site}))
    kpi3 = engine.compute(store, YEAR, TODAY).result(3)
    assert kpi3.denominator == total
    assert kpi3.band == band


def test_band_edges() -> None:
    kpis = load_kpis()
    default = kpis.kpi(4).band
    assert default == Band(80.0, 50.0)
    assert default.of(80.0) == "green"
    assert default.of(79.99999) == "amber"  # unrounded: 79.99999 is not 80
    assert default.of(50.0) == "amber"
    assert default.of(49.99) == "red"
    assert default.of(None) is None
    kpi7 = kpis.kpi(7).band  # green from 50, red below 50: no amber
    assert kpi7.of(50.0) == "green" and kpi7.of(49.999) == "red"
    kpi3 = kpis.kpi(3).band
    assert kpi3.of(20.0) == "green" and kpi3.of(10.0) == "amber" and kpi3.of(9.99) == "red"


def test_four_in_five_is_green(store: Store) -> None:
    """KPI 4 at exactly 80 %: green."""
    for n in range(5):
        extra = (
            {"1.07": _on(date(2024, 2, 1), 10)} if n < 4 else {"1.07": _on(date(2024, 2, 1), 95)}
        )
        store.new_record(_record(60 + n, date(2024, 2, 1), **extra))
    kpi4 = engine.compute(store, YEAR, TODAY).result(4)
    assert (kpi4.percent, kpi4.band) == (80.0, "green")


def test_non_spine_reading_of_kpi2(store: Store, ids: dict[str, int], tmp_path) -> None:
    """The data file may make KPI 2 count non-spine records only; the report says which."""
    import tomllib

    from flsdesk.kpi.definitions import parse_kpis

    kset = load_kpis()
    data = tomllib.loads(kset.path.read_text(encoding="utf-8"))
    data["kpi2"]["reading"] = "non_spine"
    non_spine = parse_kpis(data, tmp_path / "k.toml")
    store.set_setting(store_settings.ESTIMATED_ANNUAL_CASELOAD, 365)
    report = engine.compute(store, YEAR, TODAY, kpis=non_spine)
    assert report.result(2).numerator == 5  # r2 is the spine fracture
    assert report.kpi2_reading == "non-spine records only"
    assert "non-spine" in report.caseload_note


def test_completeness_table(store: Store, ids: dict[str, int]) -> None:
    gaps = comp.completeness(store, YEAR, TODAY)
    assert gaps[0].question == "1.08"
    assert (gaps[0].lacking, gaps[0].applicable) == (2, 6)
    assert gaps[0].share == pytest.approx(100 * 2 / 6)
    assert set(gaps[0].record_ids) == _ids("r1 r5", ids)
    assert gaps[0].label and gaps[0].tab == "patient"
    by_q = {g.question: g for g in gaps}
    assert set(by_q["1.07"].record_ids) == _ids("r5", ids)
    # Worst first; form order among equals (1.06 before 1.07).
    shares = [g.share for g in gaps]
    assert shares == sorted(shares, reverse=True)
    assert [g.question for g in gaps[1:3]] == ["1.06", "1.07"]
    # Conditional questions count only where they apply: 6.06 for r2 and r4, 3.03 for r2, r3.
    assert by_q["6.06"].applicable == 2
    assert by_q["3.03"].applicable == 2
    assert by_q["7.01"].applicable == 4  # from day 393: not r8 (day 366)
    assert len(gaps) == 20 and all(g.lacking == 0 for g in gaps[3:])


def test_drafts_with_their_missing_questions(store: Store, ids: dict[str, int]) -> None:
    drafts = comp.drafts(store, YEAR, TODAY)
    assert [(d.record_id, d.missing) for d in drafts] == [
        (ids["r1"], ("1.08",)),
        (ids["r5"], ("1.06", "1.07", "1.08")),
    ]
    assert drafts[1].missing_words.startswith("1.06 ")
    # The same drafts as the store's own status column, over every year.
    everywhere = {d.record_id for d in comp.drafts(store, None, TODAY)}
    assert everywhere == _ids("r1 r5", ids)


def test_a_hidden_answer_changing_back_counts_again(store: Store, ids: dict[str, int]) -> None:
    """r4's DXA date is hidden (DXA not ordered); once 3.01 says ordered, it counts."""
    before = engine.compute(store, YEAR, TODAY).result(5).numerator
    record = store.load(ids["r4"])
    answers = dict(record.answers)
    answers["3.01"] = "Ordered or recommended"
    store.save(ids["r4"], answers)
    assert engine.compute(store, YEAR, TODAY).result(5).numerator == before + 1
