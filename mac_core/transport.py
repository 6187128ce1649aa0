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

Options. A transport that takes ``transport_options=`` declares them as a
dataclass and names it in ``options_type``; the core checks what a user passed
against it before anything is sent, and the transport reads the built
instance from ``self.settings.options``::

    @dataclass(frozen=True)
    class EchoOptions:
        repeat: int = 1              # a field per option, typed, with its default
        token: Secret | None = None  # a str given here is checked and wrapped

        def __post_init__(self):     # ranges and relations: raise ValueError naming the field
            if self.repeat < 1:
                raise ValueError(f"repeat must be at least 1, got {self.repeat}")

    class EchoTransport(Transport):
        options_type = EchoOptions

        async def run_task(self, task, emit):
            for _ in range(self.settings.options.repeat): ...

The checks (:func:`read_options`): a name that is not a field is an error
naming it and the known ones; a missing field without a default is an error; a
value whose type is not its field's is an error naming the field (an ``int``
is a ``float``, a ``bool`` is not an ``int``; fields typed with anything but
plain classes and ``None`` are left to ``__post_init__``); a ``str`` for a
:class:`Secret` field must pass :func:`~mac_core.credentials.check_secret` and
is wrapped. A transport that takes no options says ``options_type =
NoOptions``, so a misspelt one is still an error. ``options_type = None`` (the
default, for transports written before it existed) skips the checks; the raw
mapping stays in ``settings.transport_options`` either way.
"""

from __future__ import annotations

import abc
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .credentials import Secret, checked_secret
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
    :ivar scheduler_retries: the run's rate-limit scheduler sends requests
        refused with 429 or 529 again (after their ``retry-after`` and the
        limits allow), so the SDK's clients must not retry those two
        themselves; they still retry 408, 409, other 5xx and connection errors.
    :ivar http_client: the HTTP stack under the SDK for Messages API
        transports: ``"httpx"`` (the SDK's default) or ``"aiohttp"`` (the
        SDK's ``DefaultAioHttpClient``: about half the CPU per streamed event;
        ADR 0012).
    :ivar transport_options: settings for one transport (``url``, ``token``
        for agents) as given; values that are secrets are wrapped in :class:`Secret`.
    :ivar options: the same, checked and built into the transport's
        ``options_type``; ``None`` until the transport is created (or when it
        declares no ``options_type``).
    """

    api_key: Secret | None = None
    base_url: str | None = None
    max_retries: int = 2
    connect_timeout: float = 10.0
    idle_timeout: float = 60.0
    request_timeout: float = 600.0
    http_client: str = "httpx"
    scheduler_retries: bool = False
    transport_options: Mapping[str, Any] = field(default_factory=dict)
    options: Any = None


@dataclass(frozen=True)
class NoOptions:
    """The ``options_type`` of a transport that takes no options: any name given is an error."""


_KINDS = {bool: "True or False", int: "an integer", float: "a number", str: "a string", Secret: "a string",
          type(None): "None"}


def _plain_classes(hint: Any) -> tuple[type, ...] | None:
    """The classes a field typed ``hint`` accepts, or ``None`` when the type is not that simple."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    classes = typing.get_args(hint) if is_union else (hint,)
    return classes if all(isinstance(c, type) for c in classes) else None


def _checked_value(transport: str, name: str, value: Any, hint: Any) -> Any:
    """``value`` for the field ``name`` typed ``hint``, or ``ValueError`` naming the field."""
    classes = _plain_classes(hint)
    if classes is None:
        return value  # the options class's __post_init__ checks it
    where = f"the {transport} transport option {name!r}"
    if Secret in classes and isinstance(value, (str, Secret)):
        secret = checked_secret(value, where)
        if secret is None and type(None) not in classes:
            raise ValueError(f"{where} must not be blank")
        return secret
    if isinstance(value, bool):
        fits = bool in classes
    elif isinstance(value, int) and float in classes and int not in classes:
        return float(value)
    else:
        fits = isinstance(value, classes)
    if not fits:
        kinds = dict.fromkeys(_KINDS.get(c, f"a {c.__name__}") for c in classes)
        shown = "a Secret" if isinstance(value, Secret) else type(value).__name__
        raise ValueError(f"{where} must be {' or '.join(kinds)}, not {shown}")
    return value


def read_options(options_type: type, transport_options: Mapping[str, Any], transport: str) -> Any:
    """``transport_options`` checked against the dataclass ``options_type`` and built into one.

    :param transport: the transport's name, for messages.
    :raises ValueError: naming the unknown, missing or ill-typed option (see
        the module docstring), or what ``options_type.__post_init__`` refused.
    """
    if not dataclasses.is_dataclass(options_type):
        raise TypeError(f"the {transport} transport's options_type must be a dataclass, not {options_type!r}")
    if not isinstance(transport_options, Mapping):
        raise TypeError(f"transport_options must be a mapping (a dict), not {type(transport_options).__name__}")
    fields = [f for f in dataclasses.fields(options_type) if f.init]
    known = [f.name for f in fields]
    for name in transport_options:
        if name not in known:
            raise ValueError(
                f"unknown {transport} transport option {name!r} (known: {', '.join(known) or 'none'})"
            )
    hints = typing.get_type_hints(options_type)
    values = {}
    for f in fields:
        if f.name in transport_options:
            values[f.name] = _checked_value(transport, f.name, transport_options[f.name], hints.get(f.name, Any))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"the {transport} transport needs transport_options[{f.name!r}]")
    return options_type(**values)


@dataclass(slots=True)
class Completion:
    """What :meth:`Transport.run_task` returns when a task completes.

    :ivar text: the full answer; ``None`` means "the text of my ``text`` events".
    :ivar usage: final token counts; ``None`` keeps the last ``usage`` event's.
    :ivar cost_usd: what the far side says the task cost; ``None`` lets the
        engine price ``usage`` when the transport :attr:`~Transport.bills_tokens`.
    :ivar retries: how many times the request was retried before this answer.
    :ivar server: the agent server that ran the task (``agent-ws``), without credentials or query.
    :ivar headers: the HTTP response's headers (a ``rate_limited`` transport
        sets them: the rate-limit scheduler learns the limits from them).
    """

    text: str | None = None
    usage: Usage | None = None
    stop_reason: str | None = None
    request_id: str | None = None
    cost_usd: float | None = None
    retries: int = 0
    server: str | None = None
    headers: Mapping[str, str] | None = None


class TransportError(Exception):
    """A task failed on the far side; ``str(error)`` is the message users see.

    :ivar status_code: the HTTP status, when there was one.
    :ivar error_type: the API's error type (``overloaded_error``…), when known.
    :ivar request_id: the API's request id, when known.
    :ivar retries: how many times the request was retried before this failure.
    :ivar server: the agent server where it failed (``agent-ws``), without credentials or query.
    :ivar headers: the HTTP response's headers, when there was a response
        (``retry-after`` and the rate-limit headers of a 429).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retries: int = 0,
        server: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id
        self.retries = retries
        self.server = server
        self.headers = headers


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
    :cvar bills_tokens: its tasks are billed by Messages API token counts, so
        the engine prices each result's usage (``TaskResult.cost_usd``) with
        :mod:`mac_core.pricing`, at the batch discount when it :attr:`batches`.
    :cvar rate_limited: each :meth:`run_task` call sends one Messages API
        request for ``task.model`` with ``task.max_tokens``, so the engine's
        rate-limit scheduler admits it (:mod:`mac_core.rate_limits`). Such a
        transport reports the response headers (``Completion.headers``,
        ``TransportError.headers``), raises ``TransportError`` with
        ``status_code`` 429 or 529 before emitting anything when refused, and
        builds its SDK clients with :func:`~mac_core.anthropic_api.make_client`
        (which leaves 429 and 529 to the scheduler when
        ``settings.scheduler_retries``).
    :cvar options_type: the dataclass its ``transport_options`` must fit
        (see the module docstring); :class:`NoOptions` for none, ``None`` to
        take any mapping unchecked. The core checks them before anything is
        sent; the transport reads them from ``self.settings.options``.
    """

    name: ClassVar[str] = ""
    streams: ClassVar[bool] = False
    needs_api_key: ClassVar[bool] = True
    task_options: ClassVar[frozenset[str]] = frozenset()
    batches: ClassVar[bool] = False
    bills_tokens: ClassVar[bool] = False
    rate_limited: ClassVar[bool] = False
    options_type: ClassVar[type | None] = None

    def __init__(self, settings: ClientSettings) -> None:
        if self.options_type is not None and not isinstance(settings.options, self.options_type):
            # Settings built by hand, not by the Coordinator: check the options here, still before any request.
            options = read_options(self.options_type, settings.transport_options, self.name or type(self).__name__)
            settings = dataclasses.replace(settings, options=options)
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
