"""Sending an answer: the SSE event plan, pacing, in-stream faults, and noticing a client that left.

Cheap per event by design, since benchmarks hold thousands of streams open
against one simulator: every event is encoded to bytes before the first is
sent, and each is one ``send`` (one socket write), separated by at most one
sleep. A watcher task per answer waits for the client's disconnect and
cancels the answer at once, so a client that leaves never keeps a stream (or
a ``slow`` or ``stall`` wait) running.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import sniffio
from starlette.types import Receive, Scope, Send

from .answer import Answer
from .rate_limits import ModelBuckets
from .settings import SimulatorSettings, SimulatorStats
from .wire import compact_json, sse_event

PING_EVERY = 25  # content deltas between two ping events
PING = sse_event({"type": "ping"})
MESSAGE_STOP = sse_event({"type": "message_stop"})
OVERLOADED_EVENT = sse_event(
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
)
MALFORMED_EVENT = b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {oops\n\n'
DELTA_PREFIX = b"event: content_block_delta\n"  # an event carrying output (text, thinking or tool input)
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
ENDED_FAULTS = ("midstream", "disconnect", "stall")  # faults after which no message_stop is sent
Plan = list[tuple[float, bytes]]  # (seconds to wait, then the event's bytes)


class AbortConnection(Exception):
    """Raised out of the app to make the server drop the connection mid-answer (the ``disconnect`` fault)."""


def stream_plan(answer: Answer, *, token_delay: float, ttft: float) -> tuple[Plan, int]:
    """Every event of the streamed answer, and the index halfway through its content (where faults strike)."""
    start = {
        "id": answer.id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": answer.input.as_api(0),
    }
    plan: Plan = [(0.0, sse_event({"type": "message_start", "message": start}))]
    halfway = max(1, answer.chunk_count // 2)
    middle = 0
    sent = 0
    for index, block in enumerate(answer.blocks):
        kind = block.content["type"]
        opening = {
            "text": {"type": "text", "text": ""},
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
        }
        content_block = opening.get(kind) or {**block.content, "input": {}}
        plan.append(
            (
                ttft if index == 0 else 0.0,
                sse_event({"type": "content_block_start", "index": index, "content_block": content_block}),
            )
        )
        if index == 0:
            plan.append((0.0, PING))
        for chunk in block.chunks:
            plan.append((token_delay, _delta_event(index, kind, chunk)))
            sent += 1
            if sent == halfway:
                middle = len(plan)
            if sent % PING_EVERY == 0:
                plan.append((0.0, PING))
        if kind == "thinking":
            signature = {"type": "signature_delta", "signature": block.content["signature"]}
            plan.append((0.0, sse_event({"type": "content_block_delta", "index": index, "delta": signature})))
        plan.append((0.0, sse_event({"type": "content_block_stop", "index": index})))
    usage = answer.usage
    final_usage = {
        key: usage[key]
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    }
    delta = {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence}
    plan.append((0.0, sse_event({"type": "message_delta", "delta": delta, "usage": final_usage})))
    plan.append((0.0, MESSAGE_STOP))
    return plan, middle or 3  # no content at all: strike after the first content_block_start


# Unscripted answers reuse a small vocabulary: most deltas are encoded once.
@functools.lru_cache(maxsize=8192)
def _delta_event(index: int, kind: str, chunk: str) -> bytes:
    if kind == "text":
        delta = {"type": "text_delta", "text": chunk}
    elif kind == "thinking":
        delta = {"type": "thinking_delta", "thinking": chunk}
    else:
        delta = {"type": "input_json_delta", "partial_json": chunk}
    return sse_event({"type": "content_block_delta", "index": index, "delta": delta})


def _sleep_function() -> Callable[[float], Awaitable[None]]:
    """``asyncio.sleep`` under asyncio: ``anyio.sleep`` looks the event loop up again on every call."""
    return asyncio.sleep if sniffio.current_async_library() == "asyncio" else anyio.sleep


class AnswerResponse:
    """An ASGI response sending ``answer`` as SSE or JSON, paced, with an optional in-answer fault.

    ``fault`` is one of ``slow``, ``midstream``, ``disconnect``, ``stall``,
    ``malformed`` or ``None``; status faults never get this far. ``note`` is
    the request's log record, completed here.
    """

    def __init__(
        self,
        answer: Answer,
        *,
        stream: bool,
        fault: str | None,
        settings: SimulatorSettings,
        stats: SimulatorStats,
        note: dict[str, Any],
        buckets: ModelBuckets | None = None,
        reserved: int = 0,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.answer = answer
        self.stream = stream
        self.fault = fault
        self.settings = settings
        self.stats = stats
        self.note = note
        self.buckets = buckets
        self.reserved = reserved
        self.headers = headers or []
        # Set when the last byte is being sent: a disconnect then is no longer the client leaving.
        self._complete = False
        self._abort = False
        self._plan: Plan = []
        self._sent = 0  # events of the plan sent so far

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        work = self._stream if self.stream else self._json
        try:
            await self._until_disconnect(receive, lambda: work(send))
        finally:
            self._settle()
        if self._abort:
            raise AbortConnection("the disconnect fault drops this connection")

    def _settle(self) -> None:
        """Count the output produced and correct the model's output reservation to it."""
        produced = self.answer.output_tokens
        if self.stream and (self.fault in ENDED_FAULTS or self._sent < len(self._plan) or not self._plan):
            produced = sum(1 for _, event in self._plan[: self._sent] if event.startswith(DELTA_PREFIX))
        self.stats.admitted_output_tokens[self.answer.model] += produced
        if self.buckets is not None:
            self.buckets.settle_output(self.reserved, produced)

    async def _until_disconnect(self, receive: Receive, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work``; cancel it (and count the client as gone) when the client goes away first."""

        async def watch(scope: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not self._complete:
                self.stats.client_disconnects += 1  # counted before the answer unwinds: stats stay consistent
                self.note["outcome"] += " client left"
                scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            await work()
            group.cancel_scope.cancel()

    async def _stream(self, send: Send) -> None:
        settings, fault = self.settings, self.fault
        if fault == "slow":
            await anyio.sleep(settings.slow_seconds)
        plan, middle = stream_plan(self.answer, token_delay=settings.token_delay, ttft=settings.ttft)
        if fault == "midstream":
            plan = [*plan[:middle], (0.0, OVERLOADED_EVENT)]
        elif fault in ("disconnect", "stall"):
            plan = plan[:middle]
        elif fault == "malformed":
            plan = [*plan[:middle], (0.0, MALFORMED_EVENT), *plan[middle:]]
        self._plan = plan
        sleep = _sleep_function()
        headers = [*SSE_HEADERS, *self.headers] if self.headers else SSE_HEADERS
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self.stats.streams_started += 1
        self.stats.streams_open += 1
        try:
            for delay, event in plan:
                if delay:
                    await sleep(delay)
                await send({"type": "http.response.body", "body": event, "more_body": True})
                self._sent += 1
            if fault == "stall":
                await anyio.sleep_forever()
            if fault == "disconnect":
                self._abort = True
                return
            self._complete = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if fault not in ENDED_FAULTS:
                self.stats.streams_finished += 1
        finally:
            self.stats.streams_open -= 1

    async def _json(self, send: Send) -> None:
        settings, fault = self.settings, self.fault
        if fault == "slow":
            await anyio.sleep(settings.slow_seconds)
        await anyio.sleep(settings.ttft + settings.token_delay * self.answer.chunk_count)
        body = compact_json(self.answer.message())
        if fault == "malformed":
            body = body[: len(body) // 2]
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if fault in ("disconnect", "stall"):
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            if fault == "stall":
                await anyio.sleep_forever()
            self._abort = True
            return
        self._complete = True
        await send({"type": "http.response.body", "body": body, "more_body": False})
