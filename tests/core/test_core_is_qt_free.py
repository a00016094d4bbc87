"""The core (``flsdesk/``) must never import Qt: it runs headless, in the CLI and in tests."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import flsdesk

PACKAGE = Path(flsdesk.__file__).resolve().parent
QT_ROOTS = ("PySide6", "shiboken6", "PyQt5", "PyQt6")


def _is_qt(name):
    return name.split(".")[0] in QT_ROOTS


def qt_imports(source, filename):
    """(line, what) for every Qt import in the source, wherever it sits (functions included)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_qt(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_qt(node.module):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            # importlib.import_module("PySide6…") / __import__("PySide6…")
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and _is_qt(first.value)
            ):
                found.append((node.lineno, first.value))
    return found


def test_the_scanner_sees_every_form_of_qt_import():
    source = (
        "import os\n"
        "import PySide6\n"
        "from PySide6.QtWidgets import QWidget\n"
        "def f():\n"
        "    import PySide6.QtCore as qc\n"
        "    importlib.import_module('PySide6.QtGui')\n"
        "from . import PySide6_helpers\n"
        "import shiboken6\n"
    )
    assert sorted(line for line, _ in qt_imports(source, "x.py")) == [2, 3, 5, 6, 8]
    assert qt_imports("import os\nfrom ui import app\n", "y.py") == []


def test_no_module_under_flsdesk_imports_qt():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 5  # the walk really found the package
    offenders = []
    for path in files:
        for line, name in qt_imports(path.read_text(encoding="utf-8"), str(path)):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert offenders == []


_IMPORT_ALL = (
    f"QT_ROOTS = {QT_ROOTS!r}\n"
    + """
import importlib, json, pkgutil, sys
import flsdesk
names, failed = [], {}
for info in pkgutil.walk_packages(flsdesk.__path__, "flsdesk."):
    names.append(info.name)
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
qt = sorted(m for m in sys.modules if m.split(".")[0] in QT_ROOTS)
print(json.dumps({"names": names, "failed": failed, "qt": qt}))
"""
)


def test_importing_every_flsdesk_module_loads_no_qt():
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PACKAGE.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "flsdesk.rules" in report["names"] and "flsdesk.dataset" in report["names"]
    assert report["failed"] == {}  # a module that cannot be imported was not checked
    assert report["qt"] == []
