"""Test set-up shared by every test: Qt runs headless, nothing touches the user's real folders."""

from __future__ import annotations

import os

# Before anything imports Qt: without a display Qt would abort.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_folders(tmp_path_factory, monkeypatch):
    """Every test gets its own data and config folders and no unlock secrets from the shell."""
    base = tmp_path_factory.mktemp("flsdesk-home")
    monkeypatch.setenv("FLSDESK_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("FLSDESK_CONFIG_DIR", str(base / "config"))
    for var in ("FLSDESK_PASSPHRASE", "FLSDESK_RECOVERY_KEY", "FLSDESK_NEW_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    yield
