"""The transport contract: one small class with one method.

A transport carries one task to a model or agent and back::

    class EchoTransport(Transport):
        name = "echo"
        streams = True
        needs_api_key = False

        async def run_task(self, task, emit):
            emit(Event("text", text=task.prompt))
            return Completion()

and a plugin registers it::

    @hookimpl
    def mac_register_transports(register):
        register("echo", EchoTransport)

The engine creates one instance per run (``Transport(settings)``), enters it
with ``async with`` (open clients there, close them on exit), and calls
:meth:`Transport.run_task` once per task, concurrently up to the run's limit.
It never branches on a transport's name: what differs is data on the class.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .credentials import Secret
from .events import Event
from .results import Usage
from .run import Task

#: What a transport calls for each event: ``emit(Event(...))``. Synchronous and cheap.
Emit = Callable[[Event], None]


@dataclass(frozen=True)
class ClientSettings:
    """How transports reach the far side; one per run.

    :ivar api_key: the Anthropic API key (a :class:`Secret`), or ``None`` for
        transports that need none.
    :ivar base_url: the API base URL, or ``None`` for the SDK's default.
    :ivar max_retries: retries the SDK makes on 408/409/429/5xx, with backoff.
    :ivar connect_timeout: seconds to establish a connection.
    :ivar idle_timeout: seconds a stream may go without an event.
    :ivar request_timeout: seconds a non-streaming request may take in all.
    :ivar http_client: the HTTP stack under the SDK for Messages API
        transports: ``"httpx"`` (the SDK's default) or ``"aiohttp"`` (the
        SDK's ``DefaultAioHttpClient``: about half the CPU per streamed event;
        ADR 0012).
    :ivar transport_options: settings for one transport (``url``, ``token``
        for agents); values that are secrets are wrapped in :class:`Secret`.
    """

    api_key: Secret | None = None
    base_url: str | None = None
    max_retries: int = 2
    connect_timeout: float = 10.0
    idle_timeout: float = 60.0
    request_timeout: float = 600.0
    http_client: str = "httpx"
    transport_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Completion:
    """What :meth:`Transport.run_task` returns when a task completes.

    :ivar text: the full answer; ``None`` means "the text of my ``text`` events".
    :ivar usage: final token counts; ``None`` keeps the last ``usage`` event's.
    """

    text: str | None = None
    usage: Usage | None = None
    stop_reason: str | None = None
    request_id: str | None = None
    cost_usd: float | None = None


class TransportError(Exception):
    """A task failed on the far side; ``str(error)`` is the message users see.

    :ivar status_code: the HTTP status, when there was one.
    :ivar error_type: the API's error type (``overloaded_error``…), when known.
    :ivar request_id: the API's request id, when known.
    :ivar retries: how many times the request was retried before this failure.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id
        self.retries = retries


class Transport(abc.ABC):
    """Base class of every transport. Subclass it, set the class flags, write :meth:`run_task`.

    Class flags (data the engine reads, never names):

    :cvar name: the name it is registered under, for messages.
    :cvar streams: emits ``text`` events as the answer is generated, so an
        interrupted task keeps partial text and an interrupt policy sees it live.
    :cvar needs_api_key: the run fails fast without an Anthropic API key.
    :cvar task_options: prompt fields beyond the common ones that it accepts
        (``tools``, ``stop_sequences``…); anything else is rejected up front.
    :cvar batches: it gathers tasks and sends them together (Message Batches),
        so the engine starts every task at once and ``max_concurrency`` does
        not bound it.
    """

    name: ClassVar[str] = ""
    streams: ClassVar[bool] = False
    needs_api_key: ClassVar[bool] = True
    task_options: ClassVar[frozenset[str]] = frozenset()
    batches: ClassVar[bool] = False

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings

    async def __aenter__(self) -> Transport:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open clients or connections shared by the run's tasks."""

    async def aclose(self) -> None:
        """Close what :meth:`open` opened; called even when the run was cancelled."""

    @abc.abstractmethod
    async def run_task(self, task: Task, emit: Emit) -> Completion:
        """Carry ``task`` out, calling ``emit(event)`` for each event; return its :class:`Completion`.

        Raise :class:`TransportError` (or any exception) on failure; the text
        already emitted is kept. Cancellation arrives as the event loop's
        cancellation at an ``await``: release the connection (``async with``
        does) and let it propagate; the engine records ``interrupted``.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
