"""What a finished task hands back: :class:`TaskResult` and :class:`Usage`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMPLETED = "completed"  #: the request finished normally
INTERRUPTED = "interrupted"  #: stopped mid-flight by an interrupt; partial text kept
CANCELLED = "cancelled"  #: never started (the run was stopped first)
FAILED = "failed"  #: ended in an error; ``error`` says which, partial text kept

TERMINAL_STATUSES = (COMPLETED, INTERRUPTED, CANCELLED, FAILED)

#: The values of :attr:`TaskResult.error_type` (``None`` for tasks that did not fail).
#: The API's own error types, as its error bodies and ``error`` events name them:
API_ERROR_TYPES = (
    "invalid_request_error",  # 400: the request was refused as malformed
    "authentication_error",  # 401
    "billing_error",  # 402
    "permission_error",  # 403
    "not_found_error",  # 404
    "request_too_large",  # 413
    "rate_limit_error",  # 429
    "api_error",  # 500
    "overloaded_error",  # 529
)
#: ... and the ones this project names for failures that have no API error body:
CLIENT_ERROR_TYPES = (
    "timeout",  # no response (or no event, streaming) within the timeout
    "connection_error",  # the connection failed or dropped
    "worker_lost",  # the process running the task (a Ray worker) died or became unreachable
    "incomplete_stream",  # the stream ended before ``message_stop``
    "malformed_event",  # a streamed event was not JSON
    "malformed_response",  # a response body was not a Message
    "protocol_error",  # an agent server broke the agent protocol
    "agent_error",  # the agent's turn ended in an error
    "error_max_turns",  # the agent's turn hit its turn limit (the Agent SDK's result subtype)
    "error_during_execution",  # the agent's turn failed while running (the Agent SDK's result subtype)
    "canceled",  # a batch was cancelled on the far side
    "expired",  # a batch request expired before it ran
    "invalid_output",  # the answer was not JSON, or did not match the prompt's ``output=`` schema or model
    "max_tool_rounds",  # a tool loop's model still asked for tools after ``max_tool_rounds`` rounds
    "error",  # anything else: ``error`` says what
)
ERROR_TYPES = API_ERROR_TYPES + CLIENT_ERROR_TYPES


def known_error_type(error_type: str | None) -> str:
    """``error_type`` if it is one of :data:`ERROR_TYPES`, else ``"error"`` (so callers can match on the set)."""
    return error_type if error_type in ERROR_TYPES else "error"


#: Characters of text (or thinking) per output token, for output that streamed before its count arrived.
#: English prose runs at 3.5 to 4 characters a token on Claude's tokenizers; the lower
#: figure over-counts a little, so a budget trips early rather than late.
CHARS_PER_TOKEN = 3.5


@dataclass(slots=True)
class Usage:
    """Token counts, as the API reports them.

    :ivar estimated: ``output_tokens`` includes an estimate (``CHARS_PER_TOKEN``)
        of output the API had not counted yet when the task stopped or failed
        mid-stream; it was billed all the same.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    estimated: bool = False

    @classmethod
    def from_api(cls, usage: dict[str, Any] | None) -> Usage:
        """Build from an API ``usage`` object (missing or null fields count 0)."""
        if not usage:
            return cls()
        return cls(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_read_input_tokens=usage.get("cache_read_input_tokens") or 0,
            cache_creation_input_tokens=usage.get("cache_creation_input_tokens") or 0,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.estimated or other.estimated,
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens - other.input_tokens,
            self.output_tokens - other.output_tokens,
            self.cache_read_input_tokens - other.cache_read_input_tokens,
            self.cache_creation_input_tokens - other.cache_creation_input_tokens,
            self.estimated or other.estimated,
        )

    def with_estimated_output(self, tokens: int) -> Usage:
        """These counts with ``tokens`` more output, marked :attr:`estimated`."""
        return Usage(
            self.input_tokens,
            self.output_tokens + tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            True,
        )

    @property
    def total_tokens(self) -> int:
        """All tokens billed, input (cached or not) and output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def as_dict(self) -> dict[str, Any]:
        """The four counts, under the API's names, and ``"estimated": true`` when output is estimated."""
        counts: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }
        if self.estimated:
            counts["estimated"] = True
        return counts


@dataclass(slots=True)
class TaskResult:
    """The terminal state of one task.

    :ivar index: the task's position in the prompts.
    :ivar name: the task's label.
    :ivar status: ``completed``, ``interrupted``, ``cancelled`` or ``failed``.
    :ivar text: the answer; partial when interrupted or failed mid-stream. In a
        tool loop, the text of the model's last response (the final answer),
        not the text it wrote before calling tools (``Task.text`` has every round's).
    :ivar usage: token counts (input, output, cache read, cache write), summed
        over a tool loop's requests; for a task stopped or failed mid-stream,
        output includes an estimate of what it received after the last count
        (``usage.estimated``).
    :ivar error: for ``failed``, what went wrong (HTTP status, error type,
        request id where known).
    :ivar interrupt_reason: for ``interrupted``/``cancelled``, why.
    :ivar transport: the name of the transport that ran it.
    :ivar stop_reason: the model's stop reason, when it finished.
    :ivar request_id: the API's request id, when known.
    :ivar cost_usd: what the task cost in USD: the far side's figure (agent
        runs), else, for a transport whose tasks are billed by token counts
        (``Transport.bills_tokens``), its usage at list prices
        (:mod:`mac_core.pricing`, the batch discount for batches); else ``None``.
    :ivar started_at, finished_at: ``time.time()`` stamps (``started_at`` is
        ``None`` for a task that never started).
    :ivar first_event_at: when the first event arrived (time to first token).
    :ivar id: the caller's id for the prompt (``mac run`` input), if any.
    :ivar model: the model the task asked for.
    :ivar status_code: for ``failed``, the HTTP status when there was one.
    :ivar error_type: for ``failed``, one of :data:`ERROR_TYPES` (the API's
        error type when it sent one), else ``None``.
    :ivar retries: how many times the request was retried before its final
        answer or failure, when the transport knows (``0`` otherwise).
    :ivar thinking: the extended-thinking text, when thinking was on.
    :ivar tool_calls: the tools the model called, in order, as ``{"id", "name",
        "input"}`` dicts. When the engine ran them (a prompt's tools that are
        Python functions: :mod:`mac_core.tool_loop`), each also has
        ``output`` (what the function returned) or ``error`` (``"ValueError:
        ..."``, ``"invalid input for NAME: ..."``, ``"interrupted: ..."`` or
        ``"not run: ..."``), and, once it ran, ``started_at``
        (``time.time()``) and ``duration`` (seconds).
    :ivar parsed: for a prompt with ``output=`` that completed, the answer
        parsed and validated: an instance of the Pydantic model, or the JSON
        value (a dict) for a JSON Schema; ``None`` otherwise (no ``output=``,
        or the task did not complete; an answer that does not conform is
        ``failed`` with ``error_type`` ``"invalid_output"``, its text kept).
    :ivar server: for a task delegated to an agent server (``agent-ws``), the
        server that ran it, as ``http(s)://host:port[/prefix]`` (never with
        credentials or a query), when the task completed or failed there; else ``None``.
    """

    index: int
    name: str
    status: str
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    interrupt_reason: str | None = None
    transport: str = ""
    stop_reason: str | None = None
    request_id: str | None = None
    cost_usd: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    first_event_at: float | None = None
    id: str | None = None
    model: str | None = None
    status_code: int | None = None
    error_type: str | None = None
    retries: int = 0
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    parsed: Any = None
    server: str | None = None

    @property
    def ok(self) -> bool:
        """True when the task completed."""
        return self.status == COMPLETED

    @property
    def duration(self) -> float | None:
        """Seconds from start to terminal state, or ``None`` if never started."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``mac run`` writes per line)."""
        return {
            "id": self.id if self.id is not None else self.name,
            "index": self.index,
            "status": self.status,
            "text": self.text,
            "usage": self.usage.as_dict(),
            "error": self.error,
            "interrupt_reason": self.interrupt_reason,
            "transport": self.transport,
            "stop_reason": self.stop_reason,
            "request_id": self.request_id,
            "cost_usd": self.cost_usd,
            "duration": self.duration,
            "model": self.model,
            "status_code": self.status_code,
            "error_type": self.error_type,
            "retries": self.retries,
            "thinking": self.thinking,
            "tool_calls": [_json_ready_call(call) for call in self.tool_calls],
            "parsed": _json_ready(self.parsed),
            "server": self.server,
        }


def _json_ready_call(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call with its ``output`` as JSON values (a tool may return a Pydantic model)."""
    return {**call, "output": _json_ready(call["output"])} if "output" in call else call


def _json_ready(value: Any) -> Any:
    """A parsed answer as JSON values: a Pydantic model instance becomes its JSON-mode dump."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value
