"""'Save report as PDF' from the KPI dashboard, as an FLS lead saves it for a governance meeting:
the pages it should have, in order, owner-only, and no patient identifier unless asked for."""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

from flsdesk.answers import nhs_for_people
from flsdesk_ui.kpi.dashboard import KpiPage
from flsdesk_ui.kpi.report_pdf import ReportOptionsDialog
from tests.ui.conftest import Driver
from tests.ui.kpi_records import Service, make_service

LOAD = 20_000  # ms: a bound for a hung job, not a speed test
KPI_NAMES = (
    "Data completeness",
    "Cases identified",
    "Spine fractures",
    "Assessment within 90 days",
    "DXA within 90 days",
    "Falls risk assessment",
    "Bone treatment recommended",
    "Strength and balance by 16 weeks",
    "16-week follow-up",
    "Treatment by first follow-up",
    "One-year drug adherence",
)


@pytest.fixture
def service() -> Service:
    s = make_service()
    yield s
    s.store.close()


@pytest.fixture
def page(qtbot, service: Service) -> KpiPage:
    p = KpiPage(service.store)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    with qtbot.waitSignal(p.loaded, timeout=LOAD):
        p.show()
    return p


def pages_text(path: Path) -> list[str]:
    """Each page's text, whitespace folded and ligatures (ﬁ) spelt out."""
    reader = PdfReader(str(path))
    return [
        " ".join(unicodedata.normalize("NFKC", p.extract_text() or "").split())
        for p in reader.pages
    ]


def save(qtbot, page: KpiPage, target: Path, monkeypatch, *, lists: bool) -> tuple[str, int]:
    """Click "Save report as PDF…", answer the options dialog as a person would, name the file."""
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    seen: dict[str, bool] = {}

    def answer(dialog: ReportOptionsDialog) -> None:
        assert isinstance(dialog, ReportOptionsDialog)
        seen["warning before"] = dialog.warning.isVisible()
        if lists:
            qtbot.mouseClick(dialog.include_lists, Qt.MouseButton.LeftButton)
        seen["ticked"] = dialog.include_lists.isChecked()
        seen["warning after"] = dialog.warning.isVisible()
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    driver = Driver(answer)
    with qtbot.waitSignal(page.report_saved, timeout=LOAD) as signal:
        qtbot.mouseClick(page.pdf_button, Qt.MouseButton.LeftButton)
    driver.check()
    assert seen["warning before"] is False
    assert seen["ticked"] is lists
    # The warning shows as soon as the box is ticked, before anything is written.
    assert seen["warning after"] is lists
    return signal.args[0], signal.args[1]


def identifiers(service: Service) -> list[str]:
    found = []
    for key, nhs in service.nhs.items():
        found += [nhs, nhs_for_people(nhs), service.names[key]]
    return found


def test_the_report_has_a_cover_the_kpi_table_a_chart_per_kpi_and_completeness(
    qtbot, page: KpiPage, service: Service, tmp_path, monkeypatch
) -> None:
    target = tmp_path / "governance.pdf"
    path, count = save(qtbot, page, target, monkeypatch, lists=False)
    assert path == str(target)
    assert target.read_bytes().startswith(b"%PDF")
    text = pages_text(target)
    assert len(text) == count
    # Cover, KPI table, 11 charts two to a page, breakdowns (two pages for this service's
    # four dimensions), completeness.
    assert count == 1 + 1 + 6 + 2 + 1
    cover = text[0]
    assert "Local KPI report 2025" in cover
    assert "Northtown FLS" in cover and "RXX01" in cover
    assert "fractures diagnosed 01/01/2025 – 31/12/2025" in cover
    assert "produced on 20/03/2026" in cover
    assert "This report holds no patient identifiers" in cover
    table = text[1]
    assert table.startswith("Key performance indicators")
    for name in KPI_NAMES[:9]:
        assert name in table
    assert "50.0 %" in table and "amber (below target)" in table and "70.0 %" in table
    # One chart per KPI, in order, two to a page: its title is text on the page.
    for i, number in enumerate(range(1, 12)):
        assert f"KPI {number}: {KPI_NAMES[number - 1]}" in text[2 + i // 2]
    for chart_page in text[2:8]:
        # Drawn, not blank: each chart's legend and axis labels are on the page.
        assert chart_page.count("This service") == (1 if chart_page is text[7] else 2)
        assert "Jan" in chart_page and "Dec" in chart_page
    assert text[4].count("National average") == 2  # KPI 5 and 6: band lines and comparator
    assert "Red below 50 %" in text[4]
    assert text[8].startswith("Breakdowns")
    assert "Age at diagnosis" in text[8]
    assert text[-1].startswith("Data completeness")
    assert "1.07 Date of FLS assessment 2 5 40.0 %" in text[-1]
    for page_no, words in enumerate(text, start=1):
        assert f"page {page_no} of {count}" in words
    # Figures only: no NHS number, no name anywhere in it.
    everything = " ".join(text)
    for found in identifiers(service):
        assert found not in everything
    assert "CONFIDENTIAL" not in everything
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["governance.pdf"]  # no temp file left


def test_the_patient_lists_go_in_only_when_ticked_with_nhs_numbers_and_never_names(
    qtbot, page: KpiPage, service: Service, tmp_path, monkeypatch
) -> None:
    target = tmp_path / "with-lists.pdf"
    _path, count = save(qtbot, page, target, monkeypatch, lists=True)
    text = pages_text(target)
    assert len(text) == count > 11
    everything = " ".join(text)
    assert "This report holds NHS numbers" in text[0]
    for words in text:
        assert "CONFIDENTIAL: this report holds NHS numbers" in words
    lists = everything[everything.index("Patient lists") :]
    # KPI 5 (DXA within 90 days) missed Late, Draft and Spine; Recent is not yet due.
    kpi5 = lists[lists.index("KPI 5: DXA within 90 days") : lists.index("KPI 6:")]
    for key in ("late", "draft", "spine"):
        assert nhs_for_people(service.nhs[key]) in kpi5
    assert "no DXA scan dated within 90 days — fracture 05/03/2025, day 380 today" in kpi5
    assert "Not yet due (1)" in kpi5
    assert nhs_for_people(service.nhs["recent"]) in kpi5
    assert "counts from 31/03/2026" in kpi5
    # Names never, even with the lists.
    for name in service.names.values():
        assert name not in everything
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_cancelling_the_options_writes_nothing(qtbot, page: KpiPage, tmp_path, monkeypatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(
        QFileDialog,
        "getSaveFileName",
        staticmethod(lambda *a, **k: asked.append("file") or (str(tmp_path / "x.pdf"), "")),
    )

    def cancel(dialog) -> None:
        box = dialog.buttons
        qtbot.mouseClick(
            box.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
        )

    driver = Driver(cancel)
    qtbot.mouseClick(page.pdf_button, Qt.MouseButton.LeftButton)
    assert driver.check() == ["report_options"]
    assert asked == []
    assert list(tmp_path.iterdir()) == []


def test_a_report_aimed_at_the_stores_own_folder_is_refused(
    qtbot, page: KpiPage, service: Service, monkeypatch, tmp_path
) -> None:
    """The same save guard as every other save dialog: the store's folder is not a place for
    a report; the person is told and asked again (here: cancels)."""
    answers = iter([str(service.store.paths.data_dir / "report.pdf"), ""])
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (next(answers), ""))
    )
    seen: list[str] = []

    def ok(dialog) -> None:
        seen.append(type(dialog).__name__)
        if isinstance(dialog, ReportOptionsDialog):
            qtbot.mouseClick(
                dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                Qt.MouseButton.LeftButton,
            )
            Driver(ok)  # then the refusal message
        else:
            seen.append(dialog.text())
            dialog.accept()

    driver = Driver(ok)
    qtbot.mouseClick(page.pdf_button, Qt.MouseButton.LeftButton)
    driver.check()
    assert seen[0] == "ReportOptionsDialog"
    assert seen[1] == "QMessageBox" and "Nothing was written" in seen[2]
    assert not (service.store.paths.data_dir / "report.pdf").exists()
