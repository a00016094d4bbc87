"""The front end holds no SQL: it reads through ``flsdesk.queries`` and the ``Store`` facade."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import flsdesk_ui

UI_DIR = Path(flsdesk_ui.__file__).parent
DB_MODULES = ("sqlalchemy", "sqlite3", "sqlcipher3", "pysqlcipher3", "psycopg")
DB_ATTRIBUTES = {"engine", "exec_driver_sql", "execute", "executemany"}
# Upper-case SQL shapes, so that a button's "Delete this record" is not taken for a query.
SQL_LITERAL = re.compile(
    r"\b(SELECT\b.+\bFROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|PRAGMA \w+|"
    r"(CREATE|DROP|ALTER) (TABLE|INDEX))\b",
    re.S,
)


def problems(source: str, name: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if _db(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _db(node.module):
            found.append(f"{where} imports {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in DB_ATTRIBUTES:
            found.append(f"{where} uses .{node.attr}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL_LITERAL.search(node.value)
        ):
            found.append(f"{where} holds SQL text")
    return found


def _db(module: str) -> bool:
    return module.split(".")[0] in DB_MODULES


def test_the_scan_sees_each_kind_of_sql() -> None:
    sample = (
        "import sqlalchemy\n"
        "from sqlite3 import connect\n"
        "def f(store):\n"
        "    with store.engine.connect() as c:\n"
        "        c.exec_driver_sql('PRAGMA cipher_version')\n"
        "    return 'SELECT id FROM records'\n"
    )
    found = problems(sample, "sample.py")
    assert any("imports sqlalchemy" in p for p in found)
    assert any("imports sqlite3" in p for p in found)
    assert any(".engine" in p for p in found)
    assert any(".exec_driver_sql" in p for p in found)
    assert sum("holds SQL text" in p for p in found) == 2


def test_no_module_of_the_front_end_holds_sql_or_the_engine() -> None:
    files = sorted(UI_DIR.rglob("*.py"))
    assert len(files) > 20  # the scan really reads the front end
    found = [p for f in files for p in problems(f.read_text("utf-8"), str(f.relative_to(UI_DIR)))]
    assert found == []
