"""The API's shapes on the wire: error bodies, SSE event bytes, ids and timestamps."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from mac_core.serving import JSONTooDeepError, load_json

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An error answered with the API's body ``{"type": "error", "error": {"type", "message"}}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    @property
    def error_type(self) -> str:
        """The API's ``error.type`` for this status."""
        return ERROR_TYPES.get(self.status, "api_error")

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"type": "error", "error": {"type": self.error_type, "message": self.message}}

    def response(self) -> JSONResponse:
        """The HTTP response carrying this error."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def sse_event(data: dict[str, Any]) -> bytes:
    """One SSE event, named after ``data["type"]``, encoded once."""
    return b"event: " + data["type"].encode() + b"\ndata: " + compact_json(data) + b"\n\n"


def compact_json(data: Any) -> bytes:
    """JSON without spaces, as UTF-8 (a request holding a lone surrogate was refused by :func:`read_json`)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def new_id(prefix: str) -> str:
    """A fresh id in the API's style: ``msg_…``, ``toolu_…``, ``msgbatch_…``, ``req_…``."""
    return f"{prefix}_01{uuid.uuid4().hex[:22]}"


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 UTC time as the API writes it (``2025-01-02T03:04:05.123456Z``)."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


TOO_LARGE = "Request exceeds the maximum allowed number of bytes."
_PARSE_IN_THREAD_ABOVE = 1 << 20  # bytes; parsing a bigger body on the event loop would stall every stream


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body; a 413 :class:`ApiError` as soon as it is over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, TOO_LARGE)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object body: 413 over ``limit`` bytes, 400 when it is not a JSON object or nests too deeply."""
    body = await read_body(request, limit)
    try:
        if len(body) > _PARSE_IN_THREAD_ABOVE:
            data = await anyio.to_thread.run_sync(load_json, body)
        else:
            data = load_json(body)
    except JSONTooDeepError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.") from None
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if b"\\ud" in body or b"\\uD" in body:  # only an escape can carry a lone surrogate: valid UTF-8 cannot
        found = lone_surrogate(data)
        if found is not None:
            where, character = found
            raise ApiError(
                400,
                f"The request body is not valid JSON: {where} holds the lone surrogate {character!r}, "
                "which is not valid Unicode.",
            )
    return data


def lone_surrogate(data: Any, where: str = "body") -> tuple[str, str] | None:
    """The path of the first string in ``data`` holding a lone surrogate, and that character; None if none does."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            return where, data[exc.start]
        return None
    if isinstance(data, dict):
        for key, value in data.items():
            found = lone_surrogate(key, where) or lone_surrogate(value, f"{where}.{key}")
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = lone_surrogate(value, f"{where}[{index}]")
            if found is not None:
                return found
    return None
