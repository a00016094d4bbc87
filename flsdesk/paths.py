"""Where flsdesk keeps things: the data folder, the user's definition overrides, the logs."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from flsdesk import APP_AUTHOR, APP_NAME

DATA_DIR_ENV = "FLSDESK_DATA_DIR"
CONFIG_DIR_ENV = "FLSDESK_CONFIG_DIR"


def bundled_resources() -> Path:
    """The read-only ``resources/`` folder shipped with the program: in a PyInstaller bundle,
    installed (the data package ``flsdesk_resources`` of the wheel), or in the source tree."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    source_tree = Path(__file__).resolve().parent.parent / "resources"
    if source_tree.is_dir():
        return source_tree
    spec = importlib.util.find_spec("flsdesk_resources")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return source_tree  # nothing bundled: the loaders then report that no file was found


@dataclass(frozen=True)
class AppPaths:
    data_dir: Path
    config_dir: Path
    log_dir: Path
    # ``--store``: a team database's address as given on the command line (None: FLSDESK_STORE,
    # this computer's setting, else the local store; flsdesk.store.address decides). Never
    # shown: it may hold a password.
    store: str | None = field(default=None, repr=False, compare=False)

    @property
    def overrides_dir(self) -> Path:
        """A service's corrected definition and profile files; searched before the bundled ones."""
        return self.config_dir / "definitions"

    @property
    def database(self) -> Path:
        return self.data_dir / "flsdesk.db"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "flsdesk.key"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"


def resolve(data_dir: str | os.PathLike[str] | None = None) -> AppPaths:
    """The folders to use: ``--data-dir`` beats ``FLSDESK_DATA_DIR`` beats platformdirs.

    With an explicit data folder everything (logs and overrides too) lives inside it, so a
    portable or test install never touches the user's real folders.
    """
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    config_env = os.environ.get(CONFIG_DIR_ENV)
    if chosen:
        base = Path(chosen).expanduser().resolve()
        config = Path(config_env).expanduser().resolve() if config_env else base / "config"
        return AppPaths(data_dir=base, config_dir=config, log_dir=base / "logs")
    return AppPaths(
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)),
        config_dir=Path(config_env)
        if config_env
        else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
    )


def make_private_dir(path: Path) -> Path:
    """Create a folder readable by its owner only (patient data may end up inside)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, 0o700)
    return path
