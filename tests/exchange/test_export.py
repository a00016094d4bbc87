"""The export: the golden CSV, the report, the scopes, determinism, atomic writing, batches."""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import date
from pathlib import Path

import pytest

from flsdesk import files as files_mod
from flsdesk.cli.definitions import check_file
from flsdesk.datafiles import DataFileError, read_toml
from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.exchange.exporting.writer import RowWriter
from flsdesk.exchange.profiles import load_export_profile, parse_export_profile
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    FakeClock,
    clock_fixture,
    paths_fixture,
    store_fixture,
)
from tests.helpers.export_records import GOLDEN, add_golden, golden_records, held_back_records


def _update_golden() -> bool:
    """FLSDESK_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing with them.

    Never in CI: a rewrite there would make the comparison pass whatever the export wrote, so
    the run stops at collection, before any file is touched.
    """
    if os.environ.get("FLSDESK_UPDATE_GOLDEN") != "1":
        return False
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.exit(
            "FLSDESK_UPDATE_GOLDEN=1 under CI: golden files are never rewritten in CI; "
            "update them on your own machine and commit them."
        )
    return True


UPDATE_GOLDEN = _update_golden()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where exports go: a folder of its own (the store lives beside it in tmp_path/data)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        # A rewritten file proves nothing this run: fail, so an update is never mistaken for a pass.
        changed = not path.exists() or path.read_bytes() != data
        path.write_bytes(data)
        pytest.fail(
            f"{name} {'rewritten' if changed else 'unchanged'} (FLSDESK_UPDATE_GOLDEN=1): "
            "review `git diff tests/fixtures/export`, then run again without it"
        )
    assert data == path.read_bytes(), f"{name} differs from the golden file"


@pytest.mark.parametrize("style", ["number_and_short_name", "short_name"])
def test_golden_csv_in_both_header_styles(store: Store, out_dir: Path, style: str) -> None:
    add_golden(store)
    profile = load_export_profile().with_header_style(style)
    plan = ex.prepare(store, ex.Scope.all(), profile)
    assert not plan.held_back and not plan.warnings
    result = ex.write(store, plan, out_dir / "out.csv")
    data = (out_dir / "out.csv").read_bytes()
    _check_golden(f"golden-{style}.csv", data)
    assert result.records == 5 and result.size == len(data)


def test_golden_csv_says_what_the_spec_says() -> None:
    data = (GOLDEN / "golden-number_and_short_name.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")  # UTF-8 without BOM
    assert (
        data.endswith(b"\r\n")
        and data.count(b"\r\n") == 6
        and b"\n" not in data.replace(b"\r\n", b"")
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header = rows[0]
    assert header[0] == "1.01 NHSNumber" and header[-1] == "7.07 ReFracture"
    assert "1.10 TypeOfFractue" in header  # misspelt exactly as the webtool's exports
    assert not any(h.startswith(("name", "hospital", "optout", "notes")) for h in header)
    col = {h.split(" ", 1)[0]: i for i, h in enumerate(header)}
    by_nhs = {r[0]: r for r in rows[1:]}
    # Row order: 1.09, then NHS number, then creation time.
    assert [r[col["1.09"]] for r in rows[1:]] == [
        "10/02/2024",
        "10/02/2024",
        "01/03/2024",
        "01/03/2024",
        "15/01/2025",
    ]
    assert rows[1][0] < rows[2][0]
    assert [r[0] for r in rows[3:5]] == ["OVERSEAS", "OVERSEAS"]
    assert rows[3][col["1.02"]] == "31/12/1949"  # created first
    overseas = rows[3]
    assert overseas[col["1.05"]] == "Don't know"  # ASCII apostrophe
    assert overseas[col["3.03"]] == "Patient did not attend"
    assert overseas[col["4.01"]] == "Alendronate;Denosumab"  # definition order
    assert overseas[col["5.10"]] == "Falls service;GP"
    assert (overseas[col["2.01"]], overseas[col["2.02"]]) == ("165", "62.5")
    assert (overseas[col["3.04"]], overseas[col["3.05"]]) == ("-2.7", "12")
    assert overseas[col["1.04"]] == "AB1,2CD"
    assert b'"AB1,2CD"' in data  # quoted only where needed
    hip = next(r for nhs, r in by_nhs.items() if r[col["1.11"]] == "Hip")
    assert hip[col["6.01"]] == "Yes" and hip[col["6.06"]] == ""  # hidden for hip fractures
    assert hip[col["6.02"]] == "20/05/2024" and hip[col["7.07"]] == "Humerus"
    assert b"Local Only Name" not in data and b"H0000001" not in data
    assert b"Local note" not in data


def test_short_name_header() -> None:
    first = (GOLDEN / "golden-short_name.csv").read_bytes().split(b"\r\n", 1)[0]
    assert first.startswith(b"NHSNumber,DOB,Gender,Post Code,")


def test_file_is_private_and_batch_recorded(store: Store, out_dir: Path) -> None:
    ids = add_golden(store)
    out = out_dir / "export.csv"
    result = ex.write(store, ex.prepare(store, ex.Scope.all()), out)
    if os.name == "posix":
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    [batch] = batches.list_batches(store)
    assert batch.batch_id == result.batch_id and batch.state == batches.EXPORTED
    assert batch.file_sha256 == batches.file_sha256(out) == result.sha256
    assert batch.scope == "all" and batch.created_by == store.user and batch.record_count == 5
    # Saved is not sent: nothing counts as sent until the file is marked uploaded.
    with store.engine.connect() as conn:
        assert batches.last_row_hashes(conn) == {}
    assert not ex.was_exported(store, ids[0])
    assert ex.days_since_last_sent(store, store.today()) is None
    assert ex.days_since_last_export(store, store.today()) == 0
    batches.mark_uploaded(store, batch.batch_id, store.today())
    with store.engine.connect() as conn:
        hashes = batches.last_row_hashes(conn)
    assert set(hashes) == set(ids) and all(len(h) == 64 for h in hashes.values())
    assert ex.was_exported(store, ids[0])
    assert ex.days_since_last_sent(store, store.today()) == 0
    assert ex.days_since_last_sent(store, date(2025, 6, 12)) == 10
    assert ex.days_since_last_export(store, date(2025, 6, 12)) == 10


def test_nothing_exported_yet(store: Store) -> None:
    rid = store.new_record(golden_records()[0])
    assert ex.days_since_last_export(store, store.today()) is None
    assert not ex.was_exported(store, rid)


def test_same_scope_twice_gives_identical_files(store: Store, out_dir: Path, clock) -> None:
    add_golden(store)
    ex.write(store, ex.prepare(store, ex.Scope.all()), out_dir / "a.csv")
    clock.advance(hours=3)
    ex.write(store, ex.prepare(store, ex.Scope.all()), out_dir / "b.csv")
    month = ex.Scope.parse("2024-02")
    ex.write(store, ex.prepare(store, month), out_dir / "c.csv")
    ex.write(store, ex.prepare(store, month), out_dir / "d.csv")
    assert (out_dir / "a.csv").read_bytes() == (out_dir / "b.csv").read_bytes()
    assert (out_dir / "c.csv").read_bytes() == (out_dir / "d.csv").read_bytes()
    assert (out_dir / "c.csv").read_bytes().count(b"\r\n") == 3  # header + the two of Feb 2024
    assert len(batches.list_batches(store)) == 4


def test_dry_run_writes_and_records_nothing(store: Store, out_dir: Path) -> None:
    add_golden(store)
    out = out_dir / "dry.csv"
    plan = ex.prepare(store, ex.Scope.since_last())
    result = ex.write(store, plan, out, dry_run=True)
    assert result.batch_id is None and result.records == 5
    assert not out.exists() and list(out_dir.iterdir()) == []
    assert batches.list_batches(store) == []
    assert len(ex.prepare(store, ex.Scope.since_last()).going) == 5


def test_report_holds_back_and_warns(store: Store) -> None:
    add_golden(store)
    bad, opted, unchecked = (store.new_record(a) for a in held_back_records())
    store.set_setting("require_optout_check", False)  # relaxed in Settings
    plan = ex.prepare(store, ex.Scope.all())
    held = {r.record_id: r.reason for r in plan.held_back}
    assert held[opted] == ex.HELD_OPTED_OUT
    # Which error, in the rules' words with the question: not just "Needs correction".
    assert held[bad].startswith("This is not a valid NHS number") and set(held) == {bad, opted}
    assert [w.record_id for w in plan.warnings] == [unchecked]
    assert unchecked in [r.record_id for r in plan.going]
    assert "Draft" in {r.status for r in plan.going}  # drafts go
    assert "1 warning(s)" in plan.summary_line()
    store.set_setting("require_optout_check", True)
    plan = ex.prepare(store, ex.Scope.all())
    held = {r.record_id: r.reason for r in plan.held_back}
    assert held[unchecked] == ex.HELD_OPTOUT_NOT_CHECKED
    assert not plan.warnings
    assert plan.held_back[0].nhs_number == "1234567890"  # shown to the user, openable by id


def test_unencodable_character_stops_the_export(store: Store, out_dir: Path) -> None:
    records = golden_records()
    records[2]["1.04"] = "ŁD1 1AA"  # Windows-1252 has no Ł
    ids = [store.new_record(a) for a in records]
    profile = load_export_profile().with_encoding("windows-1252")
    with pytest.raises(ex.UnencodableCharacter) as caught:
        ex.prepare(store, ex.Scope.all(), profile)
    message = str(caught.value)
    assert f"Record {ids[2]}" in message and "1.04" in message and "Post Code" in message
    assert "windows-1252" in message and "Ł" not in message
    assert caught.value.record_id == ids[2] and caught.value.question == "1.04"
    assert list(out_dir.iterdir()) == [] and batches.list_batches(store) == []
    # In UTF-8 it goes, and Windows-1252 takes the rest (é is in it).
    ex.prepare(store, ex.Scope.all())
    store.save(ids[2], {**records[2], "1.04": "ÉD1 1AA"})
    out = out_dir / "cp.csv"
    ex.write(store, ex.prepare(store, ex.Scope.all(), profile), out)
    assert "ÉD1 1AA".encode("cp1252") in out.read_bytes()


def test_utf8_with_bom(store: Store, out_dir: Path) -> None:
    add_golden(store)
    out = out_dir / "bom.csv"
    ex.write(
        store,
        ex.prepare(store, ex.Scope.all(), load_export_profile().with_encoding("utf-8-sig")),
        out,
    )
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf1.01 NHSNumber") and data.count(b"\xef\xbb\xbf") == 1
    assert data[3:] == (GOLDEN / "golden-number_and_short_name.csv").read_bytes()


def test_failure_between_write_and_rename_leaves_nothing(
    store: Store, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_golden(store)
    out = out_dir / "export.csv"
    out.write_bytes(b"the previous export\r\n")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(files_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        ex.write(store, ex.prepare(store, ex.Scope.all()), out)
    assert out.read_bytes() == b"the previous export\r\n"  # untouched
    assert [p.name for p in out_dir.iterdir()] == ["export.csv"]  # no temporary file left
    assert batches.list_batches(store) == []
    assert not ex.was_exported(store, 1)


def test_cancel_writes_nothing(store: Store, out_dir: Path) -> None:
    add_golden(store)
    plan = ex.prepare(store, ex.Scope.all())
    with pytest.raises(ex.ExportCancelled):
        ex.write(store, plan, out_dir / "x.csv", cancel=lambda: True)
    assert list(out_dir.iterdir()) == [] and batches.list_batches(store) == []


def test_nothing_to_export(store: Store, out_dir: Path) -> None:
    add_golden(store)
    result = ex.write(store, ex.prepare(store, ex.Scope.all()), out_dir / "a.csv")
    batches.mark_uploaded(store, result.batch_id, store.today())
    plan = ex.prepare(store, ex.Scope.since_last())
    assert plan.is_empty and plan.unchanged == 5
    with pytest.raises(ex.NothingToExport):
        ex.write(store, plan, out_dir / "b.csv")
    assert not (out_dir / "b.csv").exists()


def test_scope_parsing() -> None:
    assert ex.Scope.parse("2024-02").bounds() == ("2024-02-01", "2024-03-01")
    assert ex.Scope.parse("2024-12").bounds() == ("2024-12-01", "2025-01-01")
    assert ex.Scope.parse("since-last").kind == "since-last"
    assert ex.Scope.parse("all").label == "all"
    assert ex.Scope.parse("month:2024-02").label == "month:2024-02"
    for bad in ("2024-13", "24-02", "last"):
        with pytest.raises(ValueError):
            ex.Scope.parse(bad)


def test_quoting_agrees_with_csv_writer() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    profile = load_export_profile()
    writer = RowWriter(profile, [])  # quoting needs no columns

    @given(st.lists(st.text(alphabet=st.sampled_from("ab ,\"\r\n;'é"), max_size=6), min_size=2))
    def check(cells: list[str]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(cells)
        assert writer.line([writer._quoted(c) for c in cells]) == buffer.getvalue()

    check()


def test_profile_problems_name_file_and_key(out_dir: Path) -> None:
    data = read_toml(GOLDEN.parent.parent.parent / "resources/export-profiles/flsdb-webtool.toml")
    data["header"] = {**data["header"], "style": "numbers"}
    data["file"] = {**data["file"], "encoding": "klingon", "delimiter": ",,"}
    data["values"] = {**data["values"], "answers": "codes", "colour": "red"}
    with pytest.raises(DataFileError) as caught:
        parse_export_profile(data, out_dir / "mine.toml")
    text = str(caught.value)
    for fragment in (
        "mine.toml: [header]: 'style' is 'numbers'",
        "mine.toml: [file]: encoding 'klingon'",
        "[file]: 'delimiter' must be one character",
        "[values]: 'answers' is 'codes'",
        "[values]: unknown key 'colour'",
    ):
        assert fragment in text


def test_definitions_check_knows_the_profiles() -> None:
    root = GOLDEN.parent.parent.parent / "resources"
    assert "export profile flsdb-webtool" in check_file(root / "export-profiles/flsdb-webtool.toml")
    assert "upload profile https-multipart" in check_file(
        root / "upload-profiles/https-multipart.toml"
    )


def test_a_profile_column_the_dataset_lacks_is_refused(store: Store) -> None:
    from dataclasses import replace

    add_golden(store)
    profile = replace(load_export_profile(), column_order=("1.01", "9.99"))
    with pytest.raises(ex.ExportError, match=r"9\.99"):
        ex.prepare(store, ex.Scope.all(), profile)
    profile = replace(load_export_profile(), column_order=("1.09", "1.01"))
    plan = ex.prepare(store, ex.Scope.all(), profile)
    assert plan.header == ["1.09 Date Index Frac Diagnosed", "1.01 NHSNumber"]


def test_code_answers_fall_back_to_labels(store: Store) -> None:
    from dataclasses import replace

    add_golden(store)
    plan = ex.prepare(store, ex.Scope.all(), replace(load_export_profile(), answers="code"))
    # No answer in the bundled definition has a code yet: the labels are written.
    assert b"Alendronate;Denosumab" in b"".join(plan.file_bytes())


def test_row_cache_is_used_only_when_nothing_it_depends_on_changed(
    store: Store, out_dir: Path
) -> None:
    from dataclasses import replace

    ids = add_golden(store)
    cold = ex.prepare(store, ex.Scope.all())
    assert len(cold.cache_updates) == 5
    # A dry run saves nothing, so the next report renders everything again.
    ex.write(store, cold, None, dry_run=True)
    assert len(ex.prepare(store, ex.Scope.all()).cache_updates) == 5
    ex.write(store, cold, out_dir / "a.csv")
    warm = ex.prepare(store, ex.Scope.all())
    assert warm.cache_updates == []
    assert b"".join(warm.file_bytes()) == b"".join(cold.file_bytes())
    assert warm.row_hashes == cold.row_hashes
    # An edit re-renders that record only.
    store.save(ids[2], {**golden_records()[2], "2.05": "Yes"}, reason="typo")
    assert [u[0] for u in ex.prepare(store, ex.Scope.all()).cache_updates] == [ids[2]]
    # Another profile (dates written differently) re-renders everything.
    other = replace(load_export_profile(), date_format="%Y-%m-%d")
    plan = ex.prepare(store, ex.Scope.all(), other)
    assert len(plan.cache_updates) == 5 and b"2024-02-10" in b"".join(plan.file_bytes())
