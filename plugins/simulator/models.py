"""The Models API: ``GET /v1/models`` (newest first, cursor pages) and ``GET /v1/models/{model_id}``.

Answers as the real API does: ``{"data": [ModelInfo…], "has_more", "first_id",
"last_id"}`` with ``limit`` (1 to 1000, default 20) and ``before_id`` /
``after_id`` cursors; one model by id or by its undated alias; an unknown id
is the API's 404 ``not_found_error``, a bad ``limit`` or cursor a 400.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .wire import ApiError

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000

# (id, display name, created_at, max input tokens, max output tokens), newest first as the API lists them.
_CATALOGUE = (
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z", 200_000, 64_000),
    ("claude-opus-4-6", "Claude Opus 4.6", "2026-02-05T00:00:00Z", 200_000, 128_000),
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-24T00:00:00Z", 200_000, 64_000),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z", 200_000, 64_000),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z", 200_000, 64_000),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z", 200_000, 32_000),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z", 200_000, 32_000),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z", 200_000, 64_000),
)
#: The models served, as ``ModelInfo`` objects.
MODELS: tuple[dict[str, Any], ...] = tuple(
    {"type": "model", "id": mid, "display_name": name, "created_at": created,
     "max_input_tokens": max_input, "max_tokens": max_output}
    for mid, name, created, max_input, max_output in _CATALOGUE
)


def _alias(model_id: str) -> str:
    """``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``; an undated id is its own alias."""
    head, _, tail = model_id.rpartition("-")
    return head if len(tail) == 8 and tail.isdigit() else model_id


def find_model(model_id: str) -> dict[str, Any] | None:
    """The catalogue entry for ``model_id`` or its alias, else ``None``."""
    for model in MODELS:
        if model_id in (model["id"], _alias(model["id"])):
            return model
    return None


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"limit: Input should be an integer between 1 and {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _position(cursor: str, name: str) -> int:
    for index, model in enumerate(MODELS):
        if model["id"] == cursor:
            return index
    raise ApiError(400, f"{name}: no model with id {cursor!r}")


async def list_models(request: Request) -> JSONResponse:
    """``GET /v1/models``: one page of models, newest first."""
    limit = _limit(request)
    before_id = request.query_params.get("before_id")
    after_id = request.query_params.get("after_id")
    if before_id and after_id:
        raise ApiError(400, "before_id and after_id cannot both be given")
    if before_id:
        end = _position(before_id, "before_id")
        start = max(0, end - limit)
        has_more = start > 0
    else:
        start = _position(after_id, "after_id") + 1 if after_id else 0
        end = min(len(MODELS), start + limit)
        has_more = end < len(MODELS)
    page = [dict(model) for model in MODELS[start:end]]
    return JSONResponse({
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    })


async def get_model(request: Request) -> JSONResponse:
    """``GET /v1/models/{model_id}``: one model, by id or alias, or the API's 404."""
    model_id = request.path_params["model_id"]
    model = find_model(model_id)
    if model is None:
        raise ApiError(404, f"model: {model_id}")
    return JSONResponse(dict(model))


def model_routes() -> list[Route]:
    """The Models API routes, for :func:`~.app.create_app`."""
    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
    ]
