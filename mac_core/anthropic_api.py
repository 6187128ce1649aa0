"""The toolkit for transports that speak the Messages API through the official SDK.

With :mod:`mac_core.hookspecs` and :mod:`mac_core.transport`, this module is
the whole API a transport author needs; the built-in ``messages``, ``stream``
and ``batch`` transports use nothing else (a third-party transport may import
all of it)::

    class MyMessagesTransport(Transport):
        name = "mine"
        bills_tokens = True                      # the engine prices results
        task_options = MESSAGES_TASK_OPTIONS     # prompt fields passed to the API

        async def open(self):
            self.clients = ClientShards(self.settings, streaming=False)

        async def aclose(self):
            await self.clients.aclose()

        async def run_task(self, task, emit):
            try:
                async with self.clients.client() as client:
                    message = await client.messages.create(**sdk_arguments(messages_request(task)))
            except anthropic.APIError as exc:
                raise transport_error(exc) from None
            return Completion(usage=emit_message(message, emit), stop_reason=message.stop_reason)

What is here:

* :data:`MESSAGES_TASK_OPTIONS`: prompt fields a Messages API transport accepts.
* :func:`messages_request`: a task's request body; :func:`sdk_arguments`:
  that body as ``messages.create`` keywords (fields the SDK does not name go
  in ``extra_body``).
* :class:`ClientShards` (and :func:`make_client`): SDK clients with the
  run's key, base URL, retries, timeouts and HTTP stack, at most
  :data:`REQUESTS_PER_CLIENT` requests each.
* :func:`transport_error`: an SDK exception as a :class:`TransportError`
  (status, error type, request id, retries); :func:`retries_taken`: the SDK's
  retry count of a response.
* :func:`emit_message`: a whole Message as events (text, thinking, tool use,
  usage, stop).
* :data:`HTTP_CLIENTS` and :func:`check_http_client`: the HTTP stacks.
* :func:`import_sdk`: the SDK, imported when a transport opens (importing
  ``mac_core`` does not); :func:`shared_ssl_context`: one per process.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import sys
from collections.abc import AsyncIterator
from functools import cache
from typing import TYPE_CHECKING, Any

from .events import MESSAGE_STOP, TEXT, THINKING, TOOL_USE, USAGE, Event
from .prompts import CACHE_CONTROL
from .results import Usage
from .run import Task
from .transport import ClientSettings, Emit, TransportError

if TYPE_CHECKING:  # the SDK and its HTTP stack are imported when a client is made: importing mac_core stays fast
    import ssl

    import anthropic
    import httpx2

#: Prompt fields a Messages API transport passes straight into the request.
MESSAGES_TASK_OPTIONS = frozenset(
    {"tools", "tool_choice", "stop_sequences", "metadata", "thinking", "top_p", "top_k", "extra_headers", "messages",
     "output_config"}
)


#: The HTTP stacks an SDK client can run on (``ClientSettings.http_client``).
HTTP_CLIENTS = ("httpx", "aiohttp")


def check_http_client(name: object, setting: str = "http_client") -> str:
    """``name`` if it is a usable :data:`HTTP_CLIENTS` entry, else a ``ValueError`` naming ``setting``."""
    if name not in HTTP_CLIENTS:
        raise ValueError(f"{setting} must be one of {', '.join(map(repr, HTTP_CLIENTS))}, got {name!r}")
    if name == "aiohttp":
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            raise ValueError(
                f"{setting}='aiohttp' needs aiohttp: pip install 'anthropic[aiohttp]'"
            ) from None
    return name


def import_sdk() -> None:
    """Import the SDK and its HTTP stack (once per process), with the cyclic garbage collector paused meanwhile.

    Importing ``anthropic`` makes a few hundred thousand objects that live as
    long as the process (modules, classes, pydantic schemas); with the
    collector on, it rescans the growing heap several times while they load,
    about a tenth of a second of a process's first request. The little
    garbage an import leaves is collected once the collector is back on.
    :class:`ClientShards` and :func:`make_client` call it.
    """
    if "anthropic" in sys.modules and "httpx2" in sys.modules:
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        import anthropic  # noqa: F401
        import httpx2  # noqa: F401
    finally:
        if collecting:
            gc.enable()


def make_client(
    settings: ClientSettings, *, streaming: bool, ssl_context: ssl.SSLContext | None = None
) -> anthropic.AsyncAnthropic:
    """An ``AsyncAnthropic`` client with the run's key, base URL, retries, timeouts and HTTP stack.

    For streaming, the read timeout is the idle timeout (the longest gap
    between events); otherwise it bounds the whole response. ``ssl_context``
    lets several clients share one (building one costs about 20 ms).
    With ``settings.scheduler_retries`` the SDK leaves responses 429 and 529
    to the run's rate-limit scheduler (it still retries the others).
    ``settings.http_client == "aiohttp"`` puts the SDK on its
    ``DefaultAioHttpClient`` (ADR 0012).
    """
    import_sdk()
    import anthropic
    import httpx2

    read = settings.idle_timeout if streaming else settings.request_timeout
    timeout = httpx2.Timeout(read, connect=settings.connect_timeout)
    http_client: httpx2.AsyncClient | None = None
    hooks = {"response": [_refusal_left_to_the_scheduler]} if settings.scheduler_retries else None
    if settings.http_client == "aiohttp":
        http_client = anthropic.DefaultAioHttpClient(verify=ssl_context or True, timeout=timeout, event_hooks=hooks)
    elif ssl_context is not None or hooks is not None:
        http_client = anthropic.DefaultAsyncHttpxClient(verify=ssl_context or True, timeout=timeout,
                                                        event_hooks=hooks)
    return anthropic.AsyncAnthropic(
        api_key=settings.api_key.reveal() if settings.api_key else None,
        base_url=settings.base_url,
        max_retries=settings.max_retries,
        timeout=timeout,
        http_client=http_client,
    )


#: Where a 429 or 529 keeps the server's ``x-should-retry`` once the SDK is told not to retry it.
SERVER_SHOULD_RETRY = "x-mac-server-should-retry"


async def _refusal_left_to_the_scheduler(response: httpx2.Response) -> None:
    """A 429 or 529 is not retried by the SDK: the run's rate-limit scheduler sends it again (ADR 0024)."""
    if response.status_code in (429, 529):
        if "x-should-retry" in response.headers:  # the server's own word, which the scheduler obeys
            response.headers[SERVER_SHOULD_RETRY] = response.headers["x-should-retry"]
        response.headers["x-should-retry"] = "false"


#: The process's default SSL contexts, by the variables that choose their CA certificates.
_ssl_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def shared_ssl_context() -> ssl.SSLContext:
    """The default SSL context for SDK clients, built once per process (again if ``SSL_CERT_FILE``/``_DIR`` change).

    Building one reads the CA bundle (about 40 ms); every run of a script that
    calls ``invoke_claude`` in a loop paid it again. A context is safe to share
    between clients, runs and threads.
    """
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _ssl_contexts.get(key)
    if context is None:
        import httpx2

        context = _ssl_contexts[key] = httpx2.create_ssl_context()
    return context


#: Requests one SDK client carries at once before :class:`ClientShards` opens another (ADR 0011).
REQUESTS_PER_CLIENT = 64


class ClientShards:
    """SDK clients opened as concurrency grows, each carrying at most ``per_client`` requests at once.

    httpcore2's connection pool scans all its connections whenever a request
    starts or ends, so one pool under N concurrent streams costs O(N) per
    request and O(N²) per run; at 1,000 streams that scan is most of the
    client's CPU. Spreading requests over pools of at most ``per_client``
    keeps each scan short. A run of at most ``per_client`` concurrent requests
    (default :data:`REQUESTS_PER_CLIENT`) uses one client; every client shares
    one SSL context (:func:`shared_ssl_context`).
    """

    def __init__(self, settings: ClientSettings, *, streaming: bool, per_client: int | None = None) -> None:
        import_sdk()  # when the transport opens, not in its first task
        self._settings = settings
        self._streaming = streaming
        self._per_client = per_client or REQUESTS_PER_CLIENT
        self._ssl_context: ssl.SSLContext | None = None
        self._clients: list[anthropic.AsyncAnthropic] = []
        self._in_flight: list[int] = []

    def __len__(self) -> int:
        return len(self._clients)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[anthropic.AsyncAnthropic]:
        """A client with room for one more request, held for the ``async with`` block."""
        index = self._with_room()
        self._in_flight[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._in_flight[index] -= 1

    def _with_room(self) -> int:
        for index, in_flight in enumerate(self._in_flight):
            if in_flight < self._per_client:
                return index
        if self._ssl_context is None:
            self._ssl_context = shared_ssl_context()
        self._clients.append(make_client(self._settings, streaming=self._streaming, ssl_context=self._ssl_context))
        self._in_flight.append(0)
        return len(self._clients) - 1

    async def aclose(self) -> None:
        """Close every client (and its connections)."""
        clients, self._clients, self._in_flight = self._clients, [], []
        for client in clients:
            await client.close()


@cache
def _create_parameters() -> frozenset[str]:
    """The request fields this SDK version's ``messages.create`` takes as keywords."""
    import anthropic

    return frozenset(inspect.signature(anthropic.resources.messages.AsyncMessages.create).parameters) - {"self"}


def sdk_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``messages.create``: fields it does not name travel in ``extra_body``.

    SDK 2.x dropped some fields the API still takes (``temperature``,
    ``top_p``, ``top_k``); this keeps them on the wire whatever the version.
    """
    known = _create_parameters()
    arguments = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    if extra:
        arguments["extra_body"] = {**arguments.get("extra_body", {}), **extra}
    return arguments


def messages_request(task: Task) -> dict[str, Any]:
    """The Messages API request body for ``task`` (without ``stream``)."""
    options = task.options
    content: Any = task.prompt
    if options.get("cache_prompt"):
        content = [{"type": "text", "text": task.prompt, "cache_control": dict(CACHE_CONTROL)}]
    body: dict[str, Any] = {
        "model": task.model,
        "max_tokens": task.max_tokens,
        # A prompt may bring a whole conversation; otherwise the prompt is the one user turn.
        "messages": options.get("messages") or [{"role": "user", "content": content}],
    }
    if task.system is not None:
        body["system"] = task.system
    if task.temperature is not None:
        body["temperature"] = task.temperature
    for key, value in options.items():
        if key in MESSAGES_TASK_OPTIONS and key != "messages":
            body[key] = value
    return body


def transport_error(exc: BaseException) -> TransportError:
    """Turn an SDK exception into a :class:`TransportError` with a message a user can act on."""
    if isinstance(exc, TransportError):
        return exc
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        error_type = error.get("type")
        message = error.get("message") or exc.message
        request_id = exc.request_id
        retries = retries_taken(exc.response)
        text = f"HTTP {exc.status_code}"
        if error_type:
            text += f" {error_type}"
        text += f": {message}"
        if request_id:
            text += f" (request id {request_id})"
        if retries:
            text += f" after {retries} retr{'y' if retries == 1 else 'ies'}"
        return TransportError(
            text, status_code=exc.status_code, error_type=error_type, request_id=request_id, retries=retries,
            headers=exc.response.headers if exc.response is not None else None,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return TransportError("request timed out (no response within the timeout)", error_type="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return TransportError(f"connection error{detail}", error_type="connection_error")
    return TransportError(f"{type(exc).__name__}: {exc}")


def retries_taken(response: httpx2.Response | None) -> int:
    """How many times the SDK retried before ``response`` (it says so in each attempt's request headers)."""
    if response is None:
        return 0
    try:
        return int(response.request.headers.get("x-stainless-retry-count", "0"))
    except (ValueError, RuntimeError):
        return 0


def emit_message(message: Any, emit: Emit) -> Usage:
    """Emit a whole (non-streamed) Message as events: each text and tool use, its usage, its stop.

    Returns the message's usage. For transports that get answers whole (``messages``, ``batch``).
    """
    for block in message.content:
        if block.type == "text":
            emit(Event(TEXT, block.text))
        elif block.type == "thinking":
            emit(Event(THINKING, block.thinking))
        elif block.type == "tool_use":
            emit(Event(TOOL_USE, data={"id": block.id, "name": block.name, "input": block.input}))
    usage = Usage.from_api(message.usage.model_dump())
    emit(Event(USAGE, data=usage))
    emit(Event(MESSAGE_STOP, data={"stop_reason": message.stop_reason}))
    return usage
