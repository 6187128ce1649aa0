"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/sse.py and friends

from canary import CANARY_KEY  # noqa: E402,F401  (re-exported for older imports)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A canary API key in the environment, and no base URL or config file from the host."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY_KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("MAC_CONFIG", "/nonexistent/mac-config.toml")
    return CANARY_KEY


@pytest.fixture
def no_api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("MAC_CONFIG", str(tmp_path / "absent.toml"))


@pytest.fixture
def aiohttp_connections(monkeypatch) -> list:
    """Every connection aiohttp opens, noted (the proof that ``http_client="aiohttp"`` carried the requests)."""
    opened: list = []
    connect = aiohttp.TCPConnector.connect

    async def noted(self, *args, **kwargs):
        opened.append(self)
        return await connect(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "connect", noted)
    return opened
