"""Issue 13 point 2, checked on the source: the core never names the front end, the commands are
one package with explicit imports, and the storage package talks to no terminal.

An AST scan like test_core_is_qt_free.py: imports anywhere in a module (functions included) and
string constants (what importlib or a packager list would use) both count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import flsdesk

PACKAGE = Path(flsdesk.__file__).resolve().parent
COMPOSITION_ROOT = PACKAGE / "__main__.py"
UI_ROOTS = ("flsdesk_ui", "ui")
# "flsdesk_ui" anywhere, or a dotted name starting with the bare folder name "ui.".
UI_STRING = re.compile(r"flsdesk_ui|(?<![\w./])ui\.[A-Za-z_]")


def _modules(folder: Path) -> list[Path]:
    found = sorted(folder.rglob("*.py"))
    assert found, f"nothing found under {folder}"
    return found


def ui_mentions(source: str, filename: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] in UI_ROOTS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in UI_ROOTS:
                found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and UI_STRING.search(node.value)
        ):
            found.append((node.lineno, node.value[:60]))
    return found


def test_the_scanner_sees_every_way_of_naming_the_ui() -> None:
    source = (
        "import os\n"
        "import flsdesk_ui\n"
        "from flsdesk_ui.app import run\n"
        "def f():\n"
        "    import ui.app\n"
        "    importlib.import_module('flsdesk_ui.app')\n"
        "    return getattr(__import__('ui.main_window'), 'x')\n"
        "from ui import wizard\n"
        "x = 'the build (see build/ui.py)'\n"  # a path, not a module: not counted
        "y = 'a quit button'\n"
    )
    assert sorted(line for line, _ in ui_mentions(source, "x.py")) == [2, 3, 5, 6, 7, 8]


def test_the_composition_root_is_the_only_core_module_naming_the_ui() -> None:
    offenders = []
    for path in _modules(PACKAGE):
        if path == COMPOSITION_ROOT:
            continue
        for line, what in ui_mentions(path.read_text(encoding="utf-8"), str(path)):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} names {what!r}")
    assert offenders == []
    # Not vacuous: the one module allowed to name the window does name it.
    assert ui_mentions(COMPOSITION_ROOT.read_text(encoding="utf-8"), str(COMPOSITION_ROOT))


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # "from a.b import c" counts as a.b.c: a submodule, or a name from a.b itself.
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_command_modules_import_the_shared_names_not_the_package_that_imports_them() -> None:
    cli = PACKAGE / "cli"
    runner = ast.parse((cli / "runner.py").read_text(encoding="utf-8"))
    registered = {
        name.rsplit(".", 1)[1]
        for name in _imported_modules(runner)
        if name.startswith("flsdesk.cli.") and name.count(".") == 2
    }
    # Every command module is imported by name in the runner (nothing loaded from a string).
    commands = {
        p.stem for p in cli.glob("*.py") if "def register(" in p.read_text(encoding="utf-8")
    }
    assert {"definitions", "store", "followups", "exchange", "import_csv"} <= commands
    assert commands <= registered
    leaves = {p.stem for p in cli.glob("*.py")} - {"__init__", "runner"}
    for path in _modules(cli):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = _imported_modules(tree)
        assert "importlib" not in {n.split(".")[0] for n in names}, path.name
        if path.stem in ("__init__", "runner"):
            continue
        # From flsdesk.cli.base (or another leaf module), never a name of the package itself
        # (``from flsdesk.cli import CliError``) nor anything of the runner, which imports them.
        bad = [n for n in names if n.startswith("flsdesk.cli.") and n.split(".")[2] not in leaves]
        assert bad == [], f"{path.name} imports back {bad}"


_TERMINAL_CALLS = {"print", "input"}


def test_the_storage_package_does_no_terminal_io() -> None:
    offenders = []
    for path in _modules(PACKAGE / "store"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in _TERMINAL_CALLS:
                    offenders.append(f"{path.name}:{node.lineno} {func.id}()")
                if isinstance(func, ast.Attribute) and func.attr == "getpass":
                    offenders.append(f"{path.name}:{node.lineno} getpass()")
            if isinstance(node, ast.Attribute) and node.attr == "stdin":
                offenders.append(f"{path.name}:{node.lineno} stdin")
    assert offenders == []
