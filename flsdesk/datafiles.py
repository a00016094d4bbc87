"""Finding the data files in use: a service's override folder first, then the bundled ones.

Every data file (dataset definition, export profile, upload profile, KPI definition) is a TOML
file with a ``kind`` key. The bundled ones live in ``resources/<folder>/``; a service drops a
corrected copy into ``<user config>/definitions/`` (flat), where a file with the same name as a
bundled one replaces it and a new name adds to the set. Overrides survive upgrades because they
are outside the program folder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
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


class Problems:
    """Collects every problem of a data file, each with where it is, so one reading of the file
    reports them all; typed readers return a safe default after noting a problem."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append(f"{where}: {problem}" if where else problem)

    def unknown(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.add(where, f"unknown key '{key}'")

    def header(self, data: Mapping[str, Any], kind: str, allowed: set[str]) -> None:
        """The keys every data file has: a known ``kind``, an ``id`` and a ``name``."""
        self.unknown("", data, allowed)
        if data.get("kind") != kind:
            self.add("", f'kind must be "{kind}", not {data.get("kind")!r}')
        for key in ("id", "name"):
            if not isinstance(data.get(key), str | int) or not str(data.get(key)).strip():
                self.add("", f"'{key}' is missing")

    def table(self, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, Mapping):
            self.add(f"[{name}]", "must be a table")
            return {}
        return value

    def text(self, table: Mapping[str, Any], where: str, key: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            self.add(where, f"'{key}' must be text")
            return default
        return value

    def choice(
        self,
        table: Mapping[str, Any],
        where: str,
        key: str,
        default: str,
        allowed: tuple[str, ...] | list[str],
    ) -> str:
        value = self.text(table, where, key, default)
        if value not in allowed:
            self.add(where, f"'{key}' is {value!r}; it must be one of {', '.join(allowed)}")
            return default
        return value

    def number(
        self, table: Mapping[str, Any], where: str, key: str, default: float, low: float = 0
    ) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            self.add(where, f"'{key}' must be a number, at least {low}")
            return default
        return float(value)

    def words(self, table: Mapping[str, Any], where: str, key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(where, f"'{key}' must be a list of text")
            return ()
        return tuple(value)

    def text_map(self, table: Mapping[str, Any], where: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in table.items():
            if not isinstance(v, str) or not v.strip():
                self.add(where, f"'{k}' must name a text value")
            else:
                out[str(k)] = v
        return out
