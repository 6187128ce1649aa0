"""Message Batches: create, retrieve, list, cancel, delete, and results as JSONL.

A batch really processes in the background, in the app's task group: one
request at a time, ``batch_delay`` seconds each, so ``request_counts`` move
while a client polls. Cancelling turns ``in_progress`` into ``canceling``; the
processor then marks what is left ``canceled`` and the batch ``ended``, with
its ``results_url`` set.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from .answer import compose
from .messages import check_messages_request
from .state import SimulatorState
from .wire import ApiError, compact_json, new_id, read_json, timestamp

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
LIFETIME = datetime.timedelta(hours=24)
RESULT_LINES_PER_CHUNK = 1000


@dataclass
class Batch:
    """One batch: its requests, its counts, and the JSONL lines of the results so far."""

    id: str
    requests: list[tuple[str, dict[str, Any]]]
    results_base: str
    created_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    status: str = "in_progress"
    counts: dict[str, int] = field(default_factory=dict)
    results: list[bytes] = field(default_factory=list)
    ended_at: datetime.datetime | None = None
    cancel_initiated_at: datetime.datetime | None = None

    def __post_init__(self) -> None:
        self.counts = {"processing": len(self.requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}

    def as_api(self) -> dict[str, Any]:
        """The API's ``message_batch`` object."""
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": dict(self.counts),
            "ended_at": _time(self.ended_at),
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + LIFETIME),
            "archived_at": None,
            "cancel_initiated_at": _time(self.cancel_initiated_at),
            "results_url": f"{self.results_base}/v1/messages/batches/{self.id}/results" if self.status == "ended" else None,
        }

    def record(self, custom_id: str, outcome: str, result: dict[str, Any]) -> None:
        """Store one request's result line and move its count from processing to ``outcome``."""
        self.results.append(compact_json({"custom_id": custom_id, "result": {"type": outcome, **result}}) + b"\n")
        self.counts["processing"] -= 1
        self.counts[outcome] += 1


def _time(moment: datetime.datetime | None) -> str | None:
    return timestamp(moment) if moment is not None else None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _requests_of(body: dict[str, Any], limit: int) -> list[tuple[str, dict[str, Any]]]:
    requests = body.get("requests")
    if requests is None:
        raise ApiError(400, "requests: Field required")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "requests: Input should be a non-empty list")
    if len(requests) > limit:
        raise ApiError(400, f"requests: a batch holds at most {limit:,} requests, got {len(requests):,}")
    seen: set[str] = set()
    out = []
    for index, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise ApiError(400, f"requests.{index}.custom_id: 1 to 64 letters, digits, '-' or '_' required")
        if custom_id in seen:
            raise ApiError(400, f"requests.{index}.custom_id: duplicate custom_id {custom_id!r}")
        seen.add(custom_id)
        params = item.get("params")
        if not isinstance(params, dict):
            raise ApiError(400, f"requests.{index}.params: Input should be an object")
        out.append((custom_id, params))
    return out


class BatchStore:
    """The batches of one simulator, oldest first."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.batches: dict[str, Batch] = {}

    def get(self, batch_id: str) -> Batch:
        """The batch ``batch_id``, or a 404."""
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No message batch with id {batch_id!r}.")
        return batch

    async def process(self, batch: Batch) -> None:
        """Answer each request in turn until done or cancelled, then end the batch."""
        settings = self.state.settings
        done = 0
        for custom_id, params in batch.requests:
            await anyio.sleep(settings.batch_delay)
            if batch.status == "canceling":
                break
            try:
                check_messages_request(params)
                if params.get("stream"):
                    raise ApiError(400, "stream: batch requests cannot stream")
                answer = compose(params, settings, self.state.cache)
            except ApiError as exc:
                batch.record(custom_id, "errored", {"error": exc.body()})
            else:
                batch.record(custom_id, "succeeded", {"message": answer.message()})
            self.state.stats.batch_requests += 1
            done += 1
        for custom_id, _ in batch.requests[done:]:
            batch.record(custom_id, "canceled", {})
        batch.status, batch.ended_at = "ended", _now()

    def routes(self) -> list[Route]:
        """The batch endpoints under ``/v1/messages/batches``."""
        base = "/v1/messages/batches"
        return [
            Route(base, self.create, methods=["POST"]),
            Route(base, self.list_batches, methods=["GET"]),
            Route(base + "/{batch_id}", self.retrieve, methods=["GET"]),
            Route(base + "/{batch_id}", self.delete, methods=["DELETE"]),
            Route(base + "/{batch_id}/cancel", self.cancel, methods=["POST"]),
            Route(base + "/{batch_id}/results", self.results, methods=["GET"]),
        ]

    async def create(self, request: Request) -> JSONResponse:
        """``POST /v1/messages/batches``: a new batch, ``in_progress``."""
        settings = self.state.settings
        body = await read_json(request, settings.max_batch_bytes)
        requests = _requests_of(body, settings.max_batch_requests)
        if self.state.tasks is None:
            raise ApiError(500, "batches need the app's lifespan (run the app with lifespan enabled)")
        batch = Batch(new_id("msgbatch"), requests, results_base=str(request.base_url).rstrip("/"))
        self.batches[batch.id] = batch
        self.state.stats.batches += 1
        self.state.tasks.start_soon(self.process, batch, name=f"simulated batch {batch.id}")
        return JSONResponse(batch.as_api())

    async def retrieve(self, request: Request) -> JSONResponse:
        """``GET /v1/messages/batches/{id}``."""
        return JSONResponse(self.get(request.path_params["batch_id"]).as_api())

    async def cancel(self, request: Request) -> JSONResponse:
        """``POST /v1/messages/batches/{id}/cancel``: ``canceling`` until the processor stops."""
        batch = self.get(request.path_params["batch_id"])
        if batch.status == "in_progress":
            batch.status, batch.cancel_initiated_at = "canceling", _now()
        return JSONResponse(batch.as_api())

    async def delete(self, request: Request) -> JSONResponse:
        """``DELETE /v1/messages/batches/{id}``: only once it has ended."""
        batch = self.get(request.path_params["batch_id"])
        if batch.status != "ended":
            raise ApiError(400, f"Batch {batch.id} is {batch.status}; cancel it and wait for it to end first.")
        del self.batches[batch.id]
        return JSONResponse({"id": batch.id, "type": "message_batch_deleted"})

    async def results(self, request: Request) -> StreamingResponse:
        """``GET /v1/messages/batches/{id}/results``: JSONL, one line per request, once ended."""
        batch = self.get(request.path_params["batch_id"])
        if batch.status != "ended":
            raise ApiError(404, f"Results of {batch.id} are not ready: its processing_status is {batch.status}.")

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(batch.results), RESULT_LINES_PER_CHUNK):
                yield b"".join(batch.results[start : start + RESULT_LINES_PER_CHUNK])

        return StreamingResponse(chunks(), media_type="application/x-jsonl")

    async def list_batches(self, request: Request) -> JSONResponse:
        """``GET /v1/messages/batches``: newest first, paged by ``limit``, ``after_id``, ``before_id``."""
        query = request.query_params
        limit = query.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise ApiError(400, "limit: Input should be an integer from 1 to 1000")
        newest_first = list(reversed(self.batches))
        start, end = 0, len(newest_first)
        if "after_id" in query:
            start = self._position(newest_first, query["after_id"]) + 1
        if "before_id" in query:
            end = self._position(newest_first, query["before_id"])
            start = max(start, end - int(limit))
        page = newest_first[start : start + int(limit)]
        has_more = (start + len(page) < end) if "before_id" not in query else start > 0
        data = [self.batches[batch_id].as_api() for batch_id in page]
        return JSONResponse({
            "data": data,
            "has_more": has_more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        })

    @staticmethod
    def _position(ids: list[str], batch_id: str) -> int:
        try:
            return ids.index(batch_id)
        except ValueError:
            raise ApiError(404, f"No message batch with id {batch_id!r}.") from None
