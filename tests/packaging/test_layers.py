"""The import-linter contracts in pyproject.toml hold for the tree, and they are not vacuous: a
copy of the tree with one forbidden import added breaks exactly the contracts it should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(dest: Path) -> Path:
    """flsdesk/ and ui/ (as flsdesk_ui, its installed name) with pyproject.toml, in dest.

    The copy gains one window module of its own, flsdesk_ui._probe, that imports Qt and nothing
    of flsdesk, so a test importing it breaks no contract but the ones it aims at.
    """
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "flsdesk", dest / "flsdesk", ignore=ignore)
    shutil.copytree(REPO / "ui", dest / "flsdesk_ui", ignore=ignore)
    (dest / "flsdesk_ui" / "_probe.py").write_text("import PySide6.QtWidgets  # noqa\n")
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH puts the copy ahead of the editable install of the real tree.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _add_import(module: Path, *lines: str) -> None:
    body = "".join(f"    {line}  # noqa\n" for line in lines)
    with module.open("a", encoding="utf-8") as f:
        f.write(f"\n\ndef _added_by_the_test() -> None:\n{body}")


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint_imports(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "flsdesk/rules.py",
            "import PySide6.QtCore",
            ["Only the front end (flsdesk_ui) imports Qt"],
        ),
        (
            "flsdesk/store/audit.py",
            "import flsdesk_ui._probe",
            [
                "Only the front end (flsdesk_ui) imports Qt",
                "The core never imports the window (flsdesk_ui), except the composition root",
            ],
        ),
        ("flsdesk/paths.py", "from flsdesk.store import models", ["flsdesk layers:"]),
        ("flsdesk/store/models.py", "from flsdesk.exchange import batches", ["flsdesk layers:"]),
        (
            # The window imports the upload module, so it would reach the command line through it.
            "flsdesk/exchange/upload.py",
            "import flsdesk.__main__",
            ["flsdesk layers:", "The two front ends are independent"],
        ),
        (
            "flsdesk_ui/__init__.py",
            "import flsdesk.__main__",
            ["The two front ends are independent"],
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, broken: list[str]
) -> None:
    root = _copy_tree(tmp_path)
    _add_import(root / module, line)

    result = _lint_imports(root)

    assert result.returncode == 1, result.stdout + result.stderr
    reported = [
        row for row in result.stdout.splitlines() if row.endswith("BROKEN") or " BROKEN " in row
    ]
    for name in broken:
        assert any(row.startswith(name) for row in reported), (name, reported)
    assert len(reported) == len(broken), reported
