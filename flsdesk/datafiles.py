"""Finding the data files in use: a service's override folder first, then the bundled ones.

Every data file (dataset definition, export profile, upload profile, KPI definition) is a TOML
file with a ``kind`` key. The bundled ones live in ``resources/<folder>/``; a service drops a
corrected copy into ``<user config>/definitions/`` (flat), where a file with the same name as a
bundled one replaces it and a new name adds to the set. Overrides survive upgrades because they
are outside the program folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flsdesk.paths import AppPaths, bundled_resources

# kind -> folder under resources/
KIND_FOLDERS: dict[str, str] = {
    "dataset": "datasets",
    "export-profile": "export-profiles",
    "upload-profile": "upload-profiles",
    "kpi": "kpi",
}


class DataFileError(ValueError):
    """A data file cannot be used. ``str()`` names the file and every problem found."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = problems
        lines = [f"{self.path.name}: {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class DataFile:
    path: Path
    kind: str
    source: str  # "bundled" or "override"

    @property
    def name(self) -> str:
        return self.path.name


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a DataFileError that names the file."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DataFileError(path, ["file not found"]) from None
    except OSError as exc:
        raise DataFileError(path, [f"cannot be read ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise DataFileError(path, ["is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(path, [f"is not valid TOML: {exc}"]) from None


def _kind_of(path: Path) -> str | None:
    try:
        kind = read_toml(path).get("kind")
    except DataFileError:
        # A broken override still shadows nothing silently: report it as of unknown kind so
        # `flsdesk definitions` lists it and loading it by name shows the parse error.
        return None
    return kind if isinstance(kind, str) else None


def find(kind: str, paths: AppPaths | None) -> list[DataFile]:
    """The files of one kind in use, sorted by name, overrides replacing bundled files."""
    chosen: dict[str, DataFile] = {}
    bundled = bundled_resources() / KIND_FOLDERS[kind]
    if bundled.is_dir():
        for path in sorted(bundled.glob("*.toml")):
            chosen[path.name] = DataFile(path, kind, "bundled")
    if paths is not None and paths.overrides_dir.is_dir():
        for path in sorted(paths.overrides_dir.glob("*.toml")):
            if _kind_of(path) == kind:
                chosen[path.name] = DataFile(path, kind, "override")
    return [chosen[name] for name in sorted(chosen)]


def unrecognised_overrides(paths: AppPaths | None) -> list[Path]:
    """Override files that are not of any known kind (so they would be silently unused)."""
    if paths is None or not paths.overrides_dir.is_dir():
        return []
    return [
        p for p in sorted(paths.overrides_dir.glob("*.toml")) if _kind_of(p) not in KIND_FOLDERS
    ]
