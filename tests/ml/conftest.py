"""Shared fixtures of the ML tests live in tests/conftest.py (one_torch_thread); here: no downloads."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_imagenet_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No ML test may reach the network for ImageNet weights or read a developer's torch hub cache.
    monkeypatch.setenv("ICHWEB_IMAGENET_DOWNLOAD", "0")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
