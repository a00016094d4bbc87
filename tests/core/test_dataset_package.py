"""The dataset package: the model apart from the loader, no function too long to read, and the
names callers have always imported from ``flsdesk.dataset`` still there."""

from __future__ import annotations

import ast
from pathlib import Path

import flsdesk.dataset as dataset
from flsdesk.dataset import loader, model

PACKAGE = Path(dataset.__file__).parent


def test_the_model_does_not_read_files() -> None:
    source = Path(model.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "flsdesk.dataset.loader" not in imported
    assert not {"tomllib", "flsdesk.paths"} & imported
    assert "read_toml" not in source


def test_no_function_of_the_package_is_160_lines_long() -> None:
    long = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length >= 160:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert long == []


def test_callers_names_are_re_exported() -> None:
    for name in (
        "Answer",
        "Check",
        "Definition",
        "DefinitionSet",
        "FollowupWindow",
        "Question",
        "QuestionType",
        "Tab",
        "base_files",
        "load_definition",
        "load_definitions",
        "parse_definition",
        "parse_iso_date",
    ):
        assert hasattr(dataset, name), name
    assert dataset.Definition is model.Definition
    assert dataset.load_definitions is loader.load_definitions
