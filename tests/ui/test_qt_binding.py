"""The Qt binding must not leak references: PySide6 6.12.0 on Python 3.11 dropped a reference to
None on every Qt call returning nothing, so a long session aborted with "deallocating None".

The reference count of None only moves on Python 3.11: from 3.12 None is immortal and its count
is fixed, so a refcount test passes whatever the binding does. What guards every Python is the
version check: the PySide6 actually installed must be the one pyproject.toml pins, and the pin
must keep the broken release out.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

import PySide6
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from PySide6 import QtCore
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QLineEdit

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
BROKEN = Version("6.12.0")  # the release that dropped references to None on Python 3.11


def _pyside_requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [
        Requirement(dep)
        for dep in project["dependencies"]
        if canonicalize_name(Requirement(dep).name).startswith("pyside6")
    ]


def _pyside_requirement() -> Requirement:
    # PySide6-Addons (QtCharts, issue 15) rides on the binding's pin: checked below.
    found = [r for r in _pyside_requirements() if canonicalize_name(r.name) != "pyside6-addons"]
    assert len(found) == 1, f"expected one PySide6 requirement in pyproject.toml, found {found}"
    return found[0]


def test_the_addons_follow_the_binding_pin():
    """Addons and Essentials share one Qt: a different minor would not load."""
    addons = [r for r in _pyside_requirements() if canonicalize_name(r.name) == "pyside6-addons"]
    for requirement in addons:
        assert requirement.specifier == _pyside_requirement().specifier
        installed = importlib.metadata.version(requirement.name)
        assert installed == importlib.metadata.version(_pyside_requirement().name)


def test_the_pin_keeps_the_broken_release_out():
    requirement = _pyside_requirement()
    assert requirement.specifier, "PySide6 must be pinned (see the comment in pyproject.toml)"
    assert not requirement.specifier.contains(BROKEN), (
        f"the pin {requirement} lets PySide6 {BROKEN} in, which leaks references to None"
    )


def test_the_installed_pyside6_is_the_pinned_one():
    requirement = _pyside_requirement()
    distribution = importlib.metadata.version(requirement.name)
    assert requirement.specifier.contains(distribution), (
        f"{requirement.name} {distribution} is installed; pyproject.toml pins {requirement}"
    )
    # The module imported is the distribution checked (not another PySide6 earlier on the path),
    # and the Qt libraries it loaded are its own.
    assert PySide6.__version__ == distribution
    assert Version(QtCore.qVersion()).release[:2] == Version(distribution).release[:2]


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="None is immortal from Python 3.12: its reference count cannot move, so this check "
    "could not fail there; test_the_installed_pyside6_is_the_pinned_one guards instead",
)
def test_qt_calls_do_not_drop_references_to_none(qtbot):
    app = QApplication.instance()
    obj = QObject()
    edit = QLineEdit()
    qtbot.addWidget(edit)
    before = sys.getrefcount(None)
    for i in range(2000):
        obj.setObjectName("x")
        edit.setText(str(i))
        app.processEvents()
    # A few references may come and go with garbage collection; thousands may not.
    assert sys.getrefcount(None) - before > -100
