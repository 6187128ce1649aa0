"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: checking a request, then answering it."""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from .answer import compose
from .cache import input_tokens
from .faults import retry_after_seconds
from .rate_limits import NEVER_FITS, ModelBuckets, retry_after_headers
from .settings import SimulatorStats
from .state import SimulatorState, state_of
from .streaming import AnswerResponse
from .wire import ApiError, read_json

ROLES = ("user", "assistant", "system")  # Claude Code also sends mid-conversation system messages


def check_messages_request(body: dict[str, Any], *, needs_max_tokens: bool = True) -> None:
    """Raise a 400 :class:`ApiError` unless ``body`` is a well-formed Messages request."""
    model = body.get("model")
    if model is None:
        raise ApiError(400, "model: Field required")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model: Input should be a non-empty string")
    if needs_max_tokens:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise ApiError(400, "max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ApiError(400, "max_tokens: Input should be an integer greater than or equal to 1")
    messages = body.get("messages")
    if messages is None:
        raise ApiError(400, "messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages: Input should be a non-empty list")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ApiError(400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if not isinstance(message.get("content"), (str, list)):
            raise ApiError(
                400, f"messages.{index}.content: Input should be a string or a list of content blocks"
            )
    if not isinstance(body.get("system", ""), (str, list)):
        raise ApiError(400, "system: Input should be a string or a list of text blocks")
    tools = body.get("tools", [])
    if not isinstance(tools, list):
        raise ApiError(400, "tools: Input should be a list")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise ApiError(400, f"tools.{index}.name: Field required")
        # A custom tool, not a server tool, needs an input schema.
        if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
            raise ApiError(400, f"tools.{index}.input_schema: Field required")
    if not isinstance(body.get("stream", False), bool):
        raise ApiError(400, "stream: Input should be a boolean")


def status_fault(kind: str, request: Request, default_retry_after: float) -> ApiError:
    """The error response of a fault that replaces the whole answer, with ``retry-after`` (as the SDK reads it)."""
    seconds = retry_after_seconds(request.headers, default_retry_after)
    headers = {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}
    if kind == "rate_limit":
        return ApiError(429, "This request would exceed your rate limit (simulated fault).", headers)
    if kind == "server_error":
        return ApiError(500, "Internal server error (simulated fault).", headers)
    return ApiError(529, "Overloaded", headers)


class MessagesEndpoint:
    """``POST /v1/messages``: the answer as JSON or SSE, or its fault.

    A plain ASGI app (a class, so starlette routes to it as one), as it is the
    hot path the app's front layer calls directly.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await _answer(request)
        except ApiError as exc:
            response = exc.response()
        await response(scope, receive, send)


create_message = MessagesEndpoint()


# Faults answered with an error status, not an answer.
STATUS_FAULTS = ("rate_limit", "overloaded", "server_error")


async def _answer(request: Request) -> AnswerResponse:
    state = state_of(request)
    body = await read_json(request, state.settings.max_body_bytes)
    check_messages_request(body)
    buckets = state.limiter.buckets(body["model"]) if state.limiter.enabled else None
    if buckets is None:
        return _admit(request, state, body, None)
    try:
        return _admit(request, state, body, buckets)
    except ApiError as exc:  # errors report the limits too, as the API's do
        exc.headers.update((name.decode(), value.decode()) for name, value in buckets.headers(time.time()))
        raise


def _admit(
    request: Request, state: SimulatorState, body: dict[str, Any], buckets: ModelBuckets | None
) -> AnswerResponse:
    """The answer to a checked request, once its fault is drawn and its rate limits allow it."""
    fault = state.faults.pick(request.headers)
    stream = body.get("stream", False)
    stats = state.stats
    stats.messages += 1
    note = request.scope["mac_sim"]
    note["outcome"] = ("stream" if stream else "json") + (f" fault={fault}" if fault else "")
    if fault in STATUS_FAULTS or (fault == "midstream" and not stream):
        stats.faults[fault] += 1
        raise status_fault(fault, request, state.settings.retry_after)
    max_tokens = body["max_tokens"]
    if buckets is not None:  # requests and output first: a refusal then costs no answer and writes no cache
        _refuse_if_short(buckets, None, max_tokens, stats, note)
    answer = compose(body, state.settings, state.cache)
    charged = answer.input.input_tokens + answer.input.cache_creation_input_tokens  # cache reads are free
    rate_headers: list[tuple[bytes, bytes]] = []
    if buckets is not None:
        if buckets.input is not None:
            _refuse_if_short(buckets, charged, max_tokens, stats, note)
        buckets.take(charged, max_tokens)
        rate_headers = buckets.headers(time.time())
    if fault:
        stats.faults[fault] += 1
    model = answer.model
    stats.admitted[model] += 1
    stats.admitted_input_tokens[model] += charged
    note["outcome"] += f" {answer.stop_reason} out={answer.output_tokens}"
    return AnswerResponse(
        answer,
        stream=stream,
        fault=fault,
        settings=state.settings,
        stats=stats,
        note=note,
        buckets=buckets,
        reserved=max_tokens,
        headers=rate_headers,
    )


def _refuse_if_short(
    buckets: ModelBuckets,
    input_tokens: int | None,
    max_tokens: int,
    stats: SimulatorStats,
    note: dict[str, Any],
) -> None:
    """Raise the API's 429 ``rate_limit_error`` (with ``retry-after``) unless the request fits the buckets now."""
    seconds, which = buckets.shortfall(input_tokens=input_tokens, max_tokens=max_tokens)
    if not which:
        return
    stats.rate_limited += 1
    stats.rate_limited_by[which] += 1
    note["outcome"] += f" rate-limited ({which})"
    message = buckets.refusal_message(which)
    if seconds == NEVER_FITS:
        message += " This request alone is larger than the limit, so it can never fit."
    headers = {name.decode(): value.decode() for name, value in retry_after_headers(seconds)}
    raise ApiError(429, message, headers)


async def count_message_tokens(request: Request) -> JSONResponse:
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``."""
    body = await read_json(request, state_of(request).settings.max_body_bytes)
    check_messages_request(body, needs_max_tokens=False)
    return JSONResponse({"input_tokens": input_tokens(body)})
