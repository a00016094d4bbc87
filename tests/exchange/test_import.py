"""Import: reading files (encodings, header styles, dates, aliases, ignored columns), matching,
every rejection reason, update semantics, all-or-nothing, the export round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk.exchange import batches, importer
from flsdesk.exchange import export as ex
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    FakeClock,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import add_golden
from tests.helpers.import_helpers import (
    NHS_A,
    NHS_B,
    NHS_C,
    WEBTOOL_EXPORT,
    base_row,
    cells_from_answers,
    csv_bytes,
    unique_nhs_numbers,
    write_csv,
)


def _state(store: Store) -> tuple[int, int, int]:
    """Records, audit entries, and the newest audit id: any write changes one of them."""
    with store.engine.connect() as conn:
        records = conn.exec_driver_sql("SELECT COUNT(*) FROM records").scalar()
        entries = conn.exec_driver_sql("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM audit").one()
    return int(records or 0), int(entries[0]), int(entries[1])


def _only(plan: importer.ImportPlan) -> importer.RowResult:
    assert len(plan.rows) == 1
    return plan.rows[0]


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["number_and_short_name", "short_name"])
def test_both_header_styles_read_the_same(store: Store, tmp_path: Path, style: str) -> None:
    path = write_csv(
        tmp_path, [base_row(NHS_A, **{"2.01": "165", "4.01": "Denosumab;Alendronate"})], style=style
    )
    plan = importer.read_plan(store, path)
    assert plan.header_style == style and not plan.ignored_columns
    row = _only(plan)
    assert row.outcome == importer.NEW, row.problems
    importer.apply(store, plan)
    rid = store.live_count()
    answers = store.load(rid).answers
    assert answers["1.09"] == "2024-01-10" and answers["1.02"] == "1950-03-04"
    assert answers["2.01"] == 165 and isinstance(answers["2.01"], int)
    assert answers["4.01"] == ["Alendronate", "Denosumab"]  # the definition's order


def test_real_looking_webtool_export(store: Store) -> None:
    plan = importer.read_plan(store, WEBTOOL_EXPORT)
    assert plan.encoding == importer.WINDOWS_1252
    assert plan.counts == {"new": 4, "updated": 0, "unchanged": 0, "rejected": 0}
    ignored = {c.header: c.how for c in plan.ignored_columns}
    assert ignored == {
        "Record ID": "webtool column",
        "Site name": "webtool column",
        "Age Frac Diagnosed": "webtool column",
        "Record created by": "webtool column",
        "Status": "webtool column",
        "Comments": "unknown",  # reported, never silently dropped
    }
    by_question = {c.question: c for c in plan.columns if c.question}
    assert by_question["1.10"].header == "1.10 TypeOfFracture"  # the corrected spelling
    importer.apply(store, plan)
    first = store.load(1).answers
    assert first["1.05"] == "Don't know" and first["4.02"] == "Don't know"  # "Donít know"
    assert first["1.10"] == "Clinical" and first["1.04"] == "NA"
    second = store.load(2).answers
    assert second["3.03"] == "Patient did not attend" and second["3.04"] == -2.7
    assert second["4.01"] == ["Alendronate", "Denosumab"]
    assert second["5.02"] == "Don't know" and second["5.10"] == ["Falls service", "GP"]
    assert store.load(3).answers["1.01"] == "OVERSEAS"
    assert store.load(4).status == "Draft"


def test_utf8_bom_iso_dates_and_spaced_nhs_number(store: Store, tmp_path: Path) -> None:
    row = base_row(
        "401 023 2137",
        "2024-01-10",
        **{"1.02": "1950-03-04", "1.05": "Don’t know", "1.06": "2024-01-15", "1.07": "2024-01-30"},
    )
    path = tmp_path / "bom.csv"
    path.write_bytes(csv_bytes([row], encoding="utf-8-sig"))
    plan = importer.read_plan(store, path)
    assert plan.encoding == importer.UTF8_BOM and not plan.ignored_columns
    assert _only(plan).outcome == importer.NEW, _only(plan).problems
    importer.apply(store, plan)
    answers = store.load(1).answers
    assert answers["1.01"] == NHS_A and answers["1.09"] == "2024-01-10"
    assert answers["1.05"] == "Don't know"


def test_columns_by_alias_and_only_some_questions(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text(
        f"NHS Number,Date of Birth,DateIndexFracDiagnosed,Gender,Remarks\r\n"
        f"{NHS_A},04/03/1950,10/01/2024,Male,called twice\r\n",
        encoding="utf-8",
    )
    plan = importer.read_plan(store, path)
    assert [c.how for c in plan.columns] == ["alias", "alias", "alias", "short name", "unknown"]
    assert plan.header_style == "short_name"
    assert _only(plan).outcome == importer.NEW
    assert "Remarks" in "\n".join(importer.report_lines(plan))


def test_extra_empty_trailing_cells_are_fine(store: Store, tmp_path: Path) -> None:
    data = csv_bytes([base_row()]).replace(b"\r\n", b",,\r\n").replace(b",,\r\n", b"\r\n", 1)
    plan = importer.plan_bytes(store, data, "trailing.csv")
    assert _only(plan).outcome == importer.NEW, _only(plan).problems


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("1.01 NHSNumber\r\n".encode("utf-16"), "UTF-16"),
        (b"1.01 NHSNumber,1.09 Date\x00\r\n", "NUL"),
        (b"", "empty"),
        (b"Foo,Bar\r\n1,2\r\n", "no column for 1.01"),
        (b"1.01 NHSNumber,DOB\r\n1,2\r\n", "no column for 1.09"),
        (b'1.01 NHSNumber,1.09 X\r\n"' + b"x" * 200_000 + b'",1\r\n', "cannot be read as CSV"),
        (b"1.01 NHSNumber,1.09 X\r\n\x81\x8d\x90,\xff\xfe\r\n", "neither UTF-8 nor"),
    ],
)
def test_unreadable_files(store: Store, data: bytes, why: str) -> None:
    before = _state(store)
    plan = importer.plan_bytes(store, data, "bad.csv")
    assert plan.unreadable and why in plan.unreadable and not plan.rows
    with pytest.raises(importer.Unreadable):
        importer.apply(store, plan)
    assert _state(store) == before


def test_a_missing_file_is_unreadable(store: Store, tmp_path: Path) -> None:
    plan = importer.read_plan(store, tmp_path / "nope.csv")
    assert plan.unreadable and "cannot be read" in plan.unreadable


# ---------------------------------------------------------------------------------------------
# Rejections: every reason, with line, column and the value quoted
# ---------------------------------------------------------------------------------------------

REJECTIONS = [
    # (cells, column, words in the reason, value quoted)
    ({"1.01": "4010232138"}, "1.01 NHSNumber", "not a valid NHS number", "4010232138"),
    ({"1.01": "1111111111"}, "1.01 NHSNumber", "not a valid NHS number", "1111111111"),
    ({"1.01": ""}, "1.01 NHSNumber", "NHS number is needed", ""),
    ({"1.09": ""}, "1.09 Date Index Frac Diagnosed", "is needed", ""),
    ({"1.02": "04/03/1980"}, "1.02 DOB", "aged 50 or over: this patient was 43", "04/03/1980"),
    (
        {"1.09": "10/01/2015", "1.06": "", "1.07": ""},
        "1.09 Date Index Frac Diagnosed",
        "from 1 January 2016",
        "10/01/2015",
    ),
    ({"1.07": "01/01/2026"}, "1.07 DateFLSAssess", "in the future", "01/01/2026"),
    ({"2.01": "300"}, "2.01 Height", "must be between", "300"),
    ({"1.03": "Femail"}, "1.03 Gender", "not one of the answers offered", "Femail"),
    ({"4.01": "Alendronate;Inappropriate"}, "4.01 BoneTherapy", "cannot be combined", None),
    ({"1.02": "31/02/1950"}, "1.02 DOB", "Not a date", "31/02/1950"),
    ({"2.02": "heavy"}, "2.02 Weight", "must be a number", "heavy"),
    ({"2.02": "62.55"}, "2.02 Weight", "decimal place", "62.55"),
    # A hidden question's value is kept, but never a typo: 3.04 applies only to an ordered DXA.
    ({"3.04": "abc"}, "3.04 TScore", "must be a number", "abc"),
    ({"1.04": "X" * 300}, "1.04 Post Code", "too long", "X" * 59),
]


@pytest.mark.parametrize(("cells", "column", "words", "value"), REJECTIONS)
def test_each_rejection_reason(
    store: Store, tmp_path: Path, cells: dict[str, str], column: str, words: str, value: str | None
) -> None:
    path = write_csv(tmp_path, [base_row(NHS_B), base_row(NHS_A, **cells)])
    plan = importer.read_plan(store, path)
    good, bad = plan.rows
    assert good.outcome == importer.NEW, good.problems
    assert bad.outcome == importer.REJECTED
    described = [p.describe() for p in bad.problems]
    hit = [p for p in bad.problems if p.column == column and words in p.reason]
    assert hit, described
    assert hit[0].line == 3
    text = hit[0].describe()
    assert text.startswith(f'line 3, column "{column}": ')
    if value is not None:
        assert f'(value "{value}' in text
    report = "\n".join(importer.report_lines(plan))
    assert text in report and "1 rejected" in report


def test_two_rows_with_the_same_key_are_both_rejected(store: Store, tmp_path: Path) -> None:
    rows = [base_row(NHS_A), base_row(NHS_B), base_row(NHS_A, **{"1.05": "Yes"})]
    plan = importer.read_plan(store, write_csv(tmp_path, rows))
    first, second, third = plan.rows
    assert second.outcome == importer.NEW
    assert first.outcome == third.outcome == importer.REJECTED
    assert "(line 4)" in first.problems[0].reason and "(line 2)" in third.problems[0].reason
    assert "both are rejected" in first.problems[0].reason


def test_a_row_matching_a_deleted_record_says_restore_it_first(
    store: Store, tmp_path: Path
) -> None:
    rid = store.new_record(complete_answers(NHS_A))
    store.delete(rid, "Test record")
    plan = importer.read_plan(store, write_csv(tmp_path, [base_row(NHS_A)]))
    row = _only(plan)
    assert row.outcome == importer.REJECTED and row.record_id == rid
    assert f"record {rid}, which is in the deleted view: restore it first" in row.problems[0].reason


def test_a_row_matching_two_live_duplicates_is_rejected(store: Store, tmp_path: Path) -> None:
    a = store.new_record(complete_answers(NHS_A))
    b = store.new_record(complete_answers(NHS_A))
    plan = importer.read_plan(store, write_csv(tmp_path, [base_row(NHS_A)]))
    row = _only(plan)
    assert row.outcome == importer.REJECTED
    assert f"({a}, {b})" in row.problems[0].reason and "duplicates" in row.problems[0].reason


# ---------------------------------------------------------------------------------------------
# Matching and update semantics
# ---------------------------------------------------------------------------------------------


def test_overseas_rows_match_by_the_fallback_keys(store: Store, tmp_path: Path) -> None:
    stored = complete_answers("OVERSEAS", **{"1.02": "1948-11-30"})
    rid = store.new_record(stored)
    other = store.new_record(complete_answers("OVERSEAS", **{"1.02": "1948-11-30", "1.03": "Male"}))
    cells = cells_from_answers(stored) | {"1.05": "Yes"}
    no_gender = cells | {"1.03": "", "1.09": "11/01/2024"}
    plan = importer.read_plan(store, write_csv(tmp_path, [cells, no_gender]))
    updated, rejected = plan.rows
    assert updated.outcome == importer.UPDATED and updated.record_id == rid != other
    assert updated.changed == ("1.05",)
    assert rejected.outcome == importer.REJECTED
    assert "cannot be matched without 1.03 Gender" in rejected.problems[0].reason
    assert rejected.problems[0].column == "1.03 Gender"


def test_update_clears_applying_answers_and_keeps_hidden_ones(store: Store, tmp_path: Path) -> None:
    stored = complete_answers(
        NHS_A,
        **{"1.04": "AB1 2CD", "2.01": 165, "3.01": "Ordered or recommended", "3.04": -2.7},
    )
    rid = store.new_record(stored)
    cells = cells_from_answers(stored)
    cells.update({"1.04": "", "2.01": "", "3.01": "Not ordered", "3.04": ""})
    plan = importer.read_plan(store, write_csv(tmp_path, [cells]))
    row = _only(plan)
    assert row.outcome == importer.UPDATED and row.record_id == rid
    assert row.changed == ("1.04", "2.01", "3.01")
    importer.apply(store, plan)
    after = store.load(rid).answers
    assert "1.04" not in after and "2.01" not in after  # cleared: the questions apply
    assert after["3.04"] == -2.7  # kept: hidden by 3.01 = Not ordered, so the cell was empty
    assert after["3.01"] == "Not ordered"
    assert after["name"] == "Test Patient"  # local fields are never in the file
    trail = [e for e in store.audit_trail(rid) if e.action == "update"]
    assert sorted(e.question for e in trail) == ["1.04", "2.01", "3.01"]
    assert all(e.reason is None for e in trail)  # never exported: no reason asked


def test_unchanged_row_and_multi_answers_in_another_order(store: Store, tmp_path: Path) -> None:
    stored = complete_answers(NHS_A, **{"4.01": ["Denosumab", "Alendronate"], "2.02": 62.5})
    rid = store.new_record(stored)
    before = _state(store)
    plan = importer.read_plan(store, write_csv(tmp_path, [cells_from_answers(stored)]))
    row = _only(plan)
    assert row.outcome == importer.UNCHANGED and row.record_id == rid and not row.changed
    result = importer.apply(store, plan)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert _state(store) == before


def test_a_value_for_a_hidden_question_is_kept_with_a_warning(store: Store, tmp_path: Path) -> None:
    row = base_row(NHS_A, **{"1.11": "Hip", "6.01": "Yes", "6.02": "01/05/2024", "6.06": "Yes"})
    row["6.05"] = "Alendronate"
    plan = importer.read_plan(store, write_csv(tmp_path, [row]))
    result = _only(plan)
    assert result.outcome == importer.NEW, result.problems
    warning = [w for w in result.warnings if w.question == "6.06"]
    assert warning and "kept, hidden" in warning[0].reason
    assert warning[0].column == "6.06 StartStrenBalExe"
    importer.apply(store, plan)
    assert store.load(1).answers["6.06"] == "Yes"
    assert store.load(1).status != "Needs correction"


def test_update_of_an_exported_record_gives_the_audit_reason(store: Store, tmp_path: Path) -> None:
    rid = store.new_record(complete_answers(NHS_A))
    quiet = store.new_record(complete_answers(NHS_B))
    store.set_setting("require_optout_check", False)  # the records are not opt-out checked
    plan = ex.prepare(store, ex.Scope.all())
    sent = ex.write(store, plan, tmp_path / "sent.csv")
    batches.mark_uploaded(store, str(sent.batch_id), store.today())  # sent, not only saved
    rows = [
        cells_from_answers(store.load(rid).answers) | {"1.05": "Yes"},
        cells_from_answers(store.load(quiet).answers) | {"1.05": "Yes"},
    ]
    result = importer.apply(store, importer.read_plan(store, write_csv(tmp_path, rows, "may.csv")))
    assert result.updated == 2
    sent = [e for e in store.audit_trail(rid) if e.action == "update"]
    assert [(e.question, e.old_value, e.new_value, e.reason) for e in sent] == [
        ("1.05", "No", "Yes", "import of may.csv")
    ]
    # Exported too (the export above sent both records).
    assert [e.reason for e in store.audit_trail(quiet) if e.action == "update"] == [
        "import of may.csv"
    ]


def test_update_of_a_record_never_exported_has_no_reason(store: Store, tmp_path: Path) -> None:
    rid = store.new_record(complete_answers(NHS_A))
    rows = [cells_from_answers(store.load(rid).answers) | {"1.05": "Yes"}]
    importer.apply(store, importer.read_plan(store, write_csv(tmp_path, rows)))
    assert [e.reason for e in store.audit_trail(rid) if e.action == "update"] == [None]


# ---------------------------------------------------------------------------------------------
# Applying: all or nothing, skip invalid, a stale plan, cancel
# ---------------------------------------------------------------------------------------------


def _mixed(store: Store, tmp_path: Path) -> tuple[Path, int]:
    rid = store.new_record(complete_answers(NHS_C))
    rows = [
        base_row(NHS_A),
        base_row(NHS_B, **{"1.02": "01/01/1990"}),  # under 50: rejected
        cells_from_answers(store.load(rid).answers) | {"1.05": "Yes"},
    ]
    return write_csv(tmp_path, rows), rid


def test_all_or_nothing_by_default(store: Store, tmp_path: Path) -> None:
    path, rid = _mixed(store, tmp_path)
    before = _state(store)
    plan = importer.read_plan(store, path)
    assert [r.outcome for r in plan.rows] == ["new", "rejected", "updated"]
    with pytest.raises(importer.RowsRejected):
        importer.apply(store, plan)
    assert _state(store) == before
    assert store.load(rid).answers["1.05"] == "No"


def test_skip_invalid_applies_the_valid_rows(store: Store, tmp_path: Path) -> None:
    path, rid = _mixed(store, tmp_path)
    plan = importer.read_plan(store, path)
    result = importer.apply(store, plan, skip_invalid=True)
    assert (result.created, result.updated, result.skipped) == (1, 1, 1)
    assert store.live_count() == 2
    assert store.load(rid).answers["1.05"] == "Yes"


def test_a_plan_made_before_another_change_is_refused(store: Store, tmp_path: Path) -> None:
    plan = importer.read_plan(store, write_csv(tmp_path, [base_row(NHS_A)]))
    store.new_record(complete_answers(NHS_B))
    before = _state(store)
    with pytest.raises(importer.StoreChanged):
        importer.apply(store, plan)
    assert _state(store) == before


def test_cancel_while_applying_changes_nothing(store: Store, tmp_path: Path) -> None:
    plan = importer.read_plan(store, write_csv(tmp_path, [base_row(NHS_A), base_row(NHS_B)]))
    before = _state(store)
    seen: list[tuple[int, int]] = []
    calls = iter([False, True])  # give up after the first chunk, before the commit
    with pytest.raises(importer.ImportCancelled):
        importer.apply(
            store, plan, progress=lambda d, t: seen.append((d, t)), cancel=lambda: next(calls)
        )
    assert _state(store) == before and seen == [(2, 2)]


def test_cancel_while_reading(store: Store, tmp_path: Path) -> None:
    rows = [base_row(n) for n in unique_nhs_numbers(260, 100000000)]
    with pytest.raises(importer.ImportCancelled):
        importer.read_plan(store, write_csv(tmp_path, rows), cancel=lambda: True)
    progress: list[tuple[int, int]] = []
    plan = importer.read_plan(
        store, write_csv(tmp_path, rows), progress=lambda d, t: progress.append((d, t))
    )
    assert plan.counts["new"] == 260 and progress[-1] == (260, 260)


def test_ragged_rows_are_rejected(store: Store, tmp_path: Path) -> None:
    data = csv_bytes([base_row(NHS_A), base_row(NHS_B)])
    lines = data.split(b"\r\n")
    lines[1] = lines[1] + b",surprise"
    lines[2] = lines[2].rsplit(b",", 5)[0]
    plan = importer.plan_bytes(store, b"\r\n".join(lines), "ragged.csv")
    assert [r.outcome for r in plan.rows] == ["rejected", "rejected"]
    assert "unquoted comma" in plan.rows[0].problems[0].reason
    assert "cut short" in plan.rows[1].problems[0].reason


def test_line_numbers_count_quoted_line_breaks(store: Store, tmp_path: Path) -> None:
    data = csv_bytes([base_row(NHS_A, **{"1.04": "AB1\n2CD"}), base_row(NHS_B, **{"1.03": "?"})])
    plan = importer.plan_bytes(store, data, "breaks.csv")
    assert [r.line for r in plan.rows] == [2, 4]


# ---------------------------------------------------------------------------------------------
# The round trip
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["number_and_short_name", "short_name"])
def test_export_import_export_gives_the_same_bytes(
    store: Store, tmp_path: Path, clock: FakeClock, style: str
) -> None:
    from flsdesk.exchange.profiles import load_export_profile
    from flsdesk.paths import resolve

    add_golden(store)
    profile = load_export_profile().with_header_style(style)
    first = tmp_path / "first.csv"
    ex.write(store, ex.prepare(store, ex.Scope.all(), profile), first)

    empty = Store.create(resolve(tmp_path / "empty"), TEST_KEY, "TS (t)", "Other FLS", clock=clock)
    try:
        plan = importer.read_plan(empty, first)
        assert plan.counts["new"] == 5 and not plan.ignored_columns
        importer.apply(empty, plan)
        # The opt-out check is local (never in the file): the new store's requirement is
        # relaxed, as for a service that has checked these records in the webtool already.
        empty.set_setting("require_optout_check", False)
        second = tmp_path / "second.csv"
        ex.write(empty, ex.prepare(empty, ex.Scope.all(), profile), second)
        assert second.read_bytes() == first.read_bytes()
        # And the same file again changes nothing.
        again = importer.read_plan(empty, first)
        assert again.counts == {"new": 0, "updated": 0, "unchanged": 5, "rejected": 0}
    finally:
        empty.close()


def test_a_rejected_update_leaves_its_record_alone(store: Store, tmp_path: Path) -> None:
    rid = store.new_record(complete_answers(NHS_A))
    before = store.load(rid)
    bad = cells_from_answers(before.answers) | {"1.05": "Yes", "2.01": "999"}  # out of range
    plan = importer.read_plan(store, write_csv(tmp_path, [bad, base_row(NHS_B)]))
    assert [r.outcome for r in plan.rows] == ["rejected", "new"]
    importer.apply(store, plan, skip_invalid=True)
    after = store.load(rid)
    assert after.answers == before.answers and after.updated_at == before.updated_at
    assert [e.action for e in store.audit_trail(rid)] == ["create"]


def test_mixed_headers_and_a_second_column_for_one_question(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        f"1.01 NHSNumber,DOB,1.09 Date Index Frac Diagnosed,NHS No\r\n"
        f"{NHS_A},04/03/1950,10/01/2024,{NHS_B}\r\n",
        encoding="utf-8",
    )
    plan = importer.read_plan(store, path)
    assert plan.header_style == "mixed"
    (second,) = plan.ignored_columns
    assert second.header == "NHS No" and "second column for the same question" in second.reason
    assert _only(plan).nhs_number == NHS_A
