"""Hypothesis: broken import files (bad encodings, ragged rows, huge fields, wrong headers, NUL
bytes, stray quotes) never raise out of the dry run, and a file that is unreadable or has a
rejected row never changes the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flsdesk.exchange import importer
from flsdesk.exchange.profiles import load_export_profile
from flsdesk.paths import resolve
from flsdesk.store.store import Store
from tests.helpers.conftest_records import TEST_KEY, TEST_USER, FakeClock, complete_answers
from tests.helpers.import_helpers import NHS_A, NHS_B, base_row, cells_from_answers, header

HEADER = header()
PROFILE = load_export_profile()

cell_text = st.one_of(
    st.text(st.characters(blacklist_characters="\x00"), max_size=30),
    st.sampled_from(
        [
            "",
            "OVERSEAS",
            NHS_A,
            "4010232138",
            "31/02/2024",
            "2024-13-01",
            "10/01/2024",
            "Don\u00edt know",
            "Alendronate;Inappropriate",
            "Hip",
            "-0",
            "1e309",
            "nan",
            '"',
            'a"b',
            "x\r\ny",
            "\x00",
            "\ufeff",
            ";;;",
        ]
    ),
    st.integers(0, 200_000).map(lambda n: "x" * n),  # up to beyond csv's field limit
)


KEY_COLUMNS = ["1.01 NHSNumber", "1.09 Date Index Frac Diagnosed"]


@st.composite
def near_valid_rows(draw: st.DrawFn) -> list[str]:
    """A valid row with a few cells broken, sometimes a cell too many or too few."""
    row = base_row(draw(st.sampled_from([NHS_A, NHS_B, "OVERSEAS"])))
    cells = [row.get(h.split(" ", 1)[0], "") for h in HEADER]
    for _ in range(draw(st.integers(0, 3))):
        cells[draw(st.integers(0, len(cells) - 1))] = draw(cell_text)
    shape = draw(st.sampled_from(["same", "same", "same", "longer", "shorter"]))
    if shape == "longer":
        cells.append(draw(cell_text))
    elif shape == "shorter":
        cells.pop()
    return cells


@st.composite
def broken_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["rows", "header", "bytes", "mutated", "near_valid"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "header":
        cols = draw(st.lists(st.text(max_size=25), min_size=0, max_size=8))
    elif kind == "near_valid":
        cols = list(HEADER)
    else:
        cols = KEY_COLUMNS + draw(st.lists(st.sampled_from(HEADER), min_size=0, max_size=12))
        cols += draw(st.lists(st.sampled_from(["Record ID", "DOB", "Age", "1.09 X"])))
    if kind == "near_valid":
        rows = draw(st.lists(near_valid_rows(), min_size=1, max_size=4))
    else:
        rows = draw(
            st.lists(
                st.lists(cell_text, min_size=0, max_size=len(cols) + 2), min_size=0, max_size=6
            )
        )

    def quote(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if draw(st.booleans()) else c

    text = "\r\n".join(",".join(quote(c) for c in row) for row in [cols, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if kind == "mutated" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    return data


def _state(store: Store) -> tuple[int, int, bytes]:
    with store.engine.connect() as conn:
        audit = conn.exec_driver_sql("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM audit").one()
        rows = conn.exec_driver_sql("SELECT id, answers, updated_at FROM records ORDER BY id")
        dump = repr(rows.all()).encode()
    return int(audit[0]), int(audit[1]), dump


@pytest.mark.slow  # hypothesis over real stores: the longest property test
def test_broken_files_never_raise_nor_change_the_store(tmp_path: Path) -> None:
    store = Store.create(
        resolve(tmp_path / "data"), TEST_KEY, TEST_USER, "Prop FLS", clock=FakeClock()
    )
    try:
        stored = complete_answers(NHS_B)
        store.new_record(stored)
        # A valid row for the stored record, so that some files match it and would update it.
        good = ",".join(base_row(NHS_B).get(h.split(" ", 1)[0], "") for h in HEADER)
        assert cells_from_answers(stored)

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=broken_files(), with_good_row=st.booleans())
        def check(data: bytes, with_good_row: bool) -> None:
            if with_good_row and data.startswith(b"1."):
                data = data + b"\r\n" + good.encode()
            before = _state(store)
            plan = importer.plan_bytes(store, data, "broken.csv", PROFILE)
            lines = importer.report_lines(plan)  # never raises either
            event("unreadable" if plan.unreadable else f"rejected rows: {bool(plan.rejected)}")
            assert lines
            if plan.unreadable:
                assert not plan.rows
            for row in plan.rows:
                assert row.outcome in importer.OUTCOMES
                if row.outcome == importer.REJECTED:
                    assert row.problems and all(p.line >= 2 for p in row.problems)
            if plan.unreadable or plan.rejected:
                try:
                    importer.apply(store, plan)
                except (importer.Unreadable, importer.RowsRejected):
                    pass
                else:
                    raise AssertionError("a plan with rejections was applied")
                assert _state(store) == before

        check()
    finally:
        store.close()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_decode_never_raises_anything_but_unreadable(data: bytes) -> None:
    try:
        text, encoding = importer.decode(data)
    except importer.Unreadable:
        return
    assert encoding in (importer.UTF8, importer.UTF8_BOM, importer.WINDOWS_1252)
    assert "\x00" not in text
