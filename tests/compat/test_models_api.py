"""get_available_models through the Models API, and the simulator answering that API as the real one does."""

from __future__ import annotations

import httpx
import pytest

from mac_core import ClaudeInvocationError, get_available_models


def test_get_available_models_lists_the_served_models_newest_first(sim):
    models = get_available_models()
    assert models[0] == "claude-sonnet-4-6"
    assert {"claude-opus-4-6", "claude-haiku-4-5-20251001", "claude-sonnet-4-20250514"} <= set(models)
    assert len(models) == len(set(models))


def test_get_available_models_without_a_key_is_a_value_error_before_sending(sim, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ValueError, match="no Anthropic API key"):
        get_available_models()
    assert sim.stats.requests == 0


def test_get_available_models_raises_the_classic_error_when_the_api_refuses(api_key, project_dir, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ClaudeInvocationError) as info:
        get_available_models()
    assert info.value.kind == "connection"


def _get(sim, path: str, **params) -> httpx.Response:
    return httpx.get(sim.url + path, params=params, headers={"x-api-key": "sk-test"})


def test_the_models_list_pages_with_limit_and_cursors(sim):
    first = _get(sim, "/v1/models", limit=3).json()
    assert len(first["data"]) == 3 and first["has_more"] is True
    assert first["first_id"] == first["data"][0]["id"] and first["last_id"] == first["data"][-1]["id"]
    assert set(first["data"][0]) >= {"type", "id", "display_name", "created_at"}
    second = _get(sim, "/v1/models", limit=3, after_id=first["last_id"]).json()
    assert second["data"][0]["id"] not in {m["id"] for m in first["data"]}
    back = _get(sim, "/v1/models", limit=3, before_id=second["first_id"]).json()
    assert [m["id"] for m in back["data"]] == [m["id"] for m in first["data"]] and back["has_more"] is False
    everything = _get(sim, "/v1/models").json()
    assert everything["has_more"] is False


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"after_id": "nope"}])
def test_a_bad_page_request_is_the_apis_400(sim, params):
    response = _get(sim, "/v1/models", **params)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_one_model_is_found_by_id_or_alias_and_an_unknown_one_is_404(sim):
    by_id = _get(sim, "/v1/models/claude-sonnet-4-5-20250929").json()
    assert by_id["id"] == "claude-sonnet-4-5-20250929" and by_id["type"] == "model"
    assert _get(sim, "/v1/models/claude-sonnet-4-5").json()["id"] == "claude-sonnet-4-5-20250929"
    missing = _get(sim, "/v1/models/claude-nonexistent")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_the_models_api_needs_a_key_like_every_v1_path(sim):
    assert httpx.get(sim.url + "/v1/models").status_code == 401
