"""The wheel is what a pip install gets: it must carry the resources, install the front end under
a namespaced name (never a bare ``ui``) and run from a virtual environment that holds only it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _package_folders() -> set[str]:
    """Every folder of the source tree that holds Python modules, as its installed name."""
    mapping = {"flsdesk": REPO / "flsdesk", "flsdesk_ui": REPO / "ui"}
    found = set()
    for name, root in mapping.items():
        for init in root.rglob("__init__.py"):
            parts = init.parent.relative_to(root).parts
            found.add(".".join((name, *parts)))
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert _package_folders() <= listed, _package_folders() - listed
    assert config["package-dir"]["flsdesk_ui"] == "ui"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("flsdesk-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_resources_and_no_bare_ui(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"flsdesk", "flsdesk_ui", "flsdesk_resources"}, tops
    assert "flsdesk_resources/datasets/flsdb-v3.toml" in names
    assert "flsdesk_resources/export-profiles/flsdb-webtool.toml" in names
    assert "flsdesk_ui/form/window.py" in names
    assert "flsdesk/__main__.py" in names


@pytest.mark.slow
def test_installed_from_the_wheel_it_runs(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The dependencies come from this test run's environment (no download); flsdesk itself only
    # from the wheel: that folder holds no flsdesk package, and its .pth files (the editable
    # install's finder) are not read through a path line.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "--version"], check=True, capture_output=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            str(wheel),
        ],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FLSDESK_DATA_DIR"] = str(tmp_path / "data")
    env["FLSDESK_CONFIG_DIR"] = str(tmp_path / "config")
    run = {"capture_output": True, "text": True, "cwd": tmp_path, "env": env, "timeout": 120}

    where = subprocess.run(
        [
            str(python),
            "-c",
            "import flsdesk, flsdesk_ui; print(flsdesk.__file__, flsdesk_ui.__file__)",
        ],
        **run,
    )
    assert where.returncode == 0, where.stderr
    assert str(REPO) not in where.stdout and str(site) in where.stdout

    listed = subprocess.run([str(bin_dir / "flsdesk"), "definitions"], **run)
    assert listed.returncode == 0, listed.stderr
    assert "flsdb-v3.toml" in listed.stdout and "bundled" in listed.stdout
    assert "flsdb-webtool.toml" in listed.stdout
    assert str(site) in listed.stdout  # found installed, not in the source tree

    version = subprocess.run([str(bin_dir / "flsdesk"), "--version"], **run)
    assert version.returncode == 0 and version.stdout.startswith("flsdesk ")

    as_module = subprocess.run([str(python), "-m", "flsdesk", "--version"], **run)
    assert as_module.stdout == version.stdout
