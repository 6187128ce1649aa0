"""What a simulator is told (:class:`SimulatorSettings`) and what it counts (:class:`SimulatorStats`)."""

from __future__ import annotations

import pathlib
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mac_core.serving import ConnectionLimits

from .rate_limits import RateLimits, rate_limits_of

FAULT_KINDS = (
    "rate_limit",
    "overloaded",
    "server_error",
    "midstream",
    "disconnect",
    "slow",
    "stall",
    "malformed",
)
"""Every fault the simulator can inject (``x-mac-sim-fault: KIND`` or ``--fault KIND``)."""

RANDOM_FAULTS = ("rate_limit", "overloaded", "server_error", "midstream", "disconnect")
"""The faults ``--fault-rate`` draws from when no ``--fault`` is named: the transient ones a client should survive."""

MESSAGES_BODY_LIMIT = 32 * 1024 * 1024  #: the API's limit for ``POST /v1/messages``
BATCH_BODY_LIMIT = 256 * 1000 * 1000  #: the API's limit for a batch
BATCH_REQUEST_LIMIT = 100_000  #: the most requests one batch may hold


@dataclass(frozen=True)
class SimulatorSettings:
    """How the simulated model behaves. Every field has a default that suits tests and demos.

    :param tokens: words in an unscripted answer (one word is one output token).
    :param token_delay: seconds before each streamed word.
    :param ttft: seconds before the first content event (time to first token).
    :param seed: makes unscripted answers, ids of the scripted agent and random faults reproducible.
    :param fault_rate: the chance (0–1) that a Messages request gets a random fault.
    :param faults: the kinds random faults are drawn from.
    :param slow_seconds: how long the ``slow`` fault waits before the first byte.
    :param retry_after: the ``retry-after`` seconds of a ``rate_limit`` fault.
    :param batch_delay: seconds a batch spends on each of its requests.
    :param agent_workspace: where the scripted agent's ``Write``/``Edit``/``Read`` act; ``None`` simulates them.
    :param max_body_bytes: the largest ``POST /v1/messages`` body (413 above it).
    :param max_batch_bytes: the largest batch body (413 above it).
    :param max_batch_requests: the most requests in one batch (400 above it).
    :param allowed_origins: browser origins allowed to use the agent protocol
        (``/config``, ``/ws``); any other ``Origin`` gets 403, as on the agent server.
    :param request_timeout: seconds a client has to send a whole request before its connection is closed.
    :param max_connections: open connections beyond which the oldest one not being answered is closed.
    :param rpm: requests per minute every model may make (``None``: unlimited).
    :param itpm: uncached input tokens per minute of every model (``None``: unlimited).
    :param otpm: output tokens per minute of every model (``None``: unlimited).
    :param model_limits: limits of particular models, ``{model: RateLimits(...)}`` or ``{model: {"rpm": N, ...}}``;
        a limit an entry leaves out is ``rpm``/``itpm``/``otpm``'s. See :mod:`.rate_limits`.
    """

    tokens: int = 50
    token_delay: float = 0.02
    ttft: float = 0.0
    seed: int = 0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = RANDOM_FAULTS
    slow_seconds: float = 30.0
    retry_after: float = 0.0
    batch_delay: float = 0.01
    agent_workspace: pathlib.Path | None = None
    max_body_bytes: int = MESSAGES_BODY_LIMIT
    max_batch_bytes: int = BATCH_BODY_LIMIT
    max_batch_requests: int = BATCH_REQUEST_LIMIT
    allowed_origins: tuple[str, ...] = ()
    request_timeout: float = 30.0  # batches may carry hundreds of megabytes
    max_connections: int = 8192  # benchmarks open a couple of thousand connections at once
    rpm: int | None = None
    itpm: int | None = None
    otpm: int | None = None
    model_limits: Mapping[str, RateLimits] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        RateLimits(self.rpm, self.itpm, self.otpm)  # raises naming a bad limit
        if not isinstance(self.model_limits, Mapping):
            raise ValueError(
                f"model_limits must be a mapping of model to limits, not {type(self.model_limits).__name__}"
            )
        limits = {model: rate_limits_of(value, model) for model, value in self.model_limits.items()}
        object.__setattr__(self, "model_limits", limits)
        unknown = [kind for kind in self.faults if kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not self.faults and self.fault_rate > 0:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError(f"fault_rate must be between 0 and 1, not {self.fault_rate}")
        if self.tokens < 1:
            raise ValueError(f"tokens must be at least 1, not {self.tokens}")
        for name in ("token_delay", "ttft", "slow_seconds", "retry_after", "batch_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
        ConnectionLimits(self.request_timeout, self.max_connections)  # raises naming a bad value
        if self.agent_workspace is not None:
            object.__setattr__(self, "agent_workspace", pathlib.Path(self.agent_workspace))


@dataclass
class SimulatorStats:
    """Counters a test or benchmark can assert on; updated on the server's event loop, readable from any thread.

    :ivar requests: HTTP requests received (any path, WebSocket upgrades excluded).
    :ivar messages: ``POST /v1/messages`` requests that were valid and answered or faulted.
    :ivar streams_started: streaming answers whose headers were sent.
    :ivar streams_finished: streaming answers that reached ``message_stop``.
    :ivar streams_open: streaming answers in progress right now.
    :ivar client_disconnects: answers cut short because the client went away.
    :ivar faults: faults injected, by kind.
    :ivar statuses: responses sent, by HTTP status.
    :ivar batches: batches created.
    :ivar batch_requests: batch requests processed (succeeded or errored).
    :ivar rate_limited: requests refused with 429 because a rate-limit bucket was empty
        (injected ``rate_limit`` faults are counted in ``faults`` only).
    :ivar rate_limited_by: those refusals by the bucket that refused: ``requests``, ``input-tokens``, ``output-tokens``.
    :ivar admitted: Messages requests answered (not refused, not a status fault), by model.
    :ivar admitted_input_tokens: input tokens charged to the limits (uncached and cache writes), by model.
    :ivar admitted_output_tokens: output tokens produced by finished answers, by model.
    :ivar started: ``time.monotonic()`` when the counters began (for rates over the run).
    """

    requests: int = 0
    messages: int = 0
    streams_started: int = 0
    streams_finished: int = 0
    streams_open: int = 0
    client_disconnects: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    batches: int = 0
    batch_requests: int = 0
    rate_limited: int = 0
    rate_limited_by: Counter[str] = field(default_factory=Counter)
    admitted: Counter[str] = field(default_factory=Counter)
    admitted_input_tokens: Counter[str] = field(default_factory=Counter)
    admitted_output_tokens: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, Any]:
        """Every counter as JSON-ready values (counters as objects with string keys), plus ``elapsed`` seconds."""
        data: dict[str, Any] = {}
        for name, value in vars(self).items():
            data[name] = (
                {str(key): count for key, count in value.items()} if isinstance(value, Counter) else value
            )
        data["elapsed"] = time.monotonic() - data.pop("started")
        return data


def connection_limits(settings: SimulatorSettings) -> ConnectionLimits:
    """The limits :mod:`mac_core.serving` applies to a simulator's connections."""
    return ConnectionLimits(settings.request_timeout, settings.max_connections)
