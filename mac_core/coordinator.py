"""The rich API: :class:`Coordinator` runs prompts on a transport and returns :class:`TaskResult` objects."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .anthropic_api import check_http_client
from .bridge import run_sync
from .credentials import Secret, checked_secret, find_base_url, require_api_key
from .engine import execute
from .events import Event
from .interrupt import InterruptToken
from .plugins import (
    RunHooks,
    TransportEntry,
    collect_transports,
    hookimpl,
    plugin_manager,
    rate_limit_scheduler,
)
from .prompts import build_tasks, check_max_tokens, check_model, check_positive_int
from .rate_limits import RateLimitSettings, account_id, read_rate_limits, read_redis_url
from .results import TaskResult
from .run import Run
from .transport import ClientSettings, read_options
from .workflow import Decide, HybridResult, run_hybrid

if TYPE_CHECKING:  # the thread and the orchestrator build on the Coordinator, so they are imported when used
    from .orchestrator import Orchestration
    from .thread import Thread

DEFAULT_MAX_TOKENS = 4096
MODEL_ENV = "MAC_MODEL"
HTTP_CLIENT_ENV = "MAC_HTTP_CLIENT"


def default_model() -> str:
    """The model used when none is given: ``$MAC_MODEL`` or ``claude-sonnet-4-6``."""
    return os.environ.get(MODEL_ENV) or "claude-sonnet-4-6"


def _check_timeout(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class Coordinator:
    """Runs many prompts at once on a pluggable transport, with live hooks and interrupts.

    :param plugins: plugins for this coordinator only (modules or objects with
        ``@hookimpl`` methods: policies, reporters, transports), on top of the
        installed ones.
    :param api_key: the Anthropic API key; else ``ANTHROPIC_API_KEY``, else the
        config file (see :mod:`mac_core.credentials`).
    :param base_url: the API base URL; else ``ANTHROPIC_BASE_URL``.
    :param model, max_tokens: defaults for prompts that do not set them.
    :param max_retries: SDK retries on 408/409/429/5xx (backoff, ``retry-after`` honoured).
    :param connect_timeout, idle_timeout, request_timeout: seconds to connect,
        between streamed events, and for a whole non-streaming request.
    :param http_client: the HTTP stack under the SDK for the Messages API
        transports: ``"httpx"`` (the SDK's default, what ``httpx2_mock`` and
        respx see) or ``"aiohttp"`` (about 0.6 of the client CPU per streamed
        event; for hundreds of concurrent streams, see ADR 0012); else
        ``$MAC_HTTP_CLIENT``, else ``"httpx"``.
    :param rate_limits: how the ``stream`` and ``messages`` transports keep to
        the API's rate limits (:mod:`mac_core.rate_limits`, docs/rate-limits.md):
        ``None`` (default) learns each model's limits from the response
        headers and waits only when they say so; a
        :class:`~mac_core.rate_limits.RateLimits` (or ``{"rpm": ..., "itpm":
        ..., "otpm": ...}``) for every model, or a dict of them by model name,
        sets them; ``False`` turns the scheduler off (the SDK retries 429s on its own).
        With the scheduler on, 429 and 529 are retried by it (up to
        ``max_retries``), after ``retry-after``, not by the SDK.
    :param redis_url: a Redis server through which processes with the same
        key share one budget; else ``$MAC_REDIS_URL``; else this process's
        own. Needs ``pip install 'multi-agent-coordination[redis]'``. Never
        shown in logs or reprs (it may hold a password).
    """

    def __init__(
        self,
        plugins: Iterable[object] | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_retries: int = 2,
        connect_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        request_timeout: float = 600.0,
        http_client: str | None = None,
        rate_limits: Any = None,
        redis_url: str | None = None,
    ) -> None:
        if api_key is not None and not isinstance(api_key, (str, Secret)):
            raise TypeError(f"api_key must be a string, not {type(api_key).__name__}")
        # A key with a newline or escape inside is refused here, before it could reach a header or an error.
        self._api_key = checked_secret(api_key, "the api_key argument") if api_key is not None else None
        self._base_url = base_url
        self.model = check_model(model, "model") if model is not None else None
        self.max_tokens = check_max_tokens(max_tokens, "max_tokens")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        self.max_retries = max_retries
        self.connect_timeout = _check_timeout(connect_timeout, "connect_timeout")
        self.idle_timeout = _check_timeout(idle_timeout, "idle_timeout")
        self.request_timeout = _check_timeout(request_timeout, "request_timeout")
        if http_client is None:
            self.http_client = check_http_client(os.environ.get(HTTP_CLIENT_ENV) or "httpx", f"${HTTP_CLIENT_ENV}")
        else:
            self.http_client = check_http_client(http_client)
        self._rate_limits = read_rate_limits(rate_limits)
        self._redis_url = read_redis_url(redis_url) if self._rate_limits is not None else None
        self._extra_plugins = list(plugins or ())
        self._pm = plugin_manager(self._extra_plugins)
        self._transports = collect_transports(self._pm)

    @property
    def plugin_manager(self):
        """The pluggy ``PluginManager`` (register more plugins on it before a run)."""
        return self._pm

    @property
    def transports(self) -> dict[str, TransportEntry]:
        """The registered transports by name."""
        return dict(self._transports)

    def _transport(self, name: Any) -> TransportEntry:
        if not isinstance(name, str):
            raise TypeError(f"transport must be a name (string), not {type(name).__name__}")
        try:
            return self._transports[name]
        except KeyError:
            raise ValueError(
                f"unknown transport {name!r} (installed: {', '.join(sorted(self._transports)) or 'none'})"
            ) from None

    def _check_ready(self, transport: Any) -> None:
        """Refuse an unknown transport or a missing key in the caller's thread, before the run's event loop starts.

        Raised from inside the loop, the same error would come after some thirty lines of anyio's traceback.
        """
        if self._transport(transport).transport.needs_api_key:
            require_api_key(self._api_key)

    def settings(self, transport: str, transport_options: Mapping[str, Any] | None = None) -> ClientSettings:
        """The :class:`ClientSettings` a run on ``transport`` would use.

        Raises if a needed key is missing or malformed, or if
        ``transport_options`` do not fit the transport's ``options_type``
        (unknown name, wrong type, bad value); ``None`` leaves them to be
        checked by the run.
        """
        entry = self._transport(transport)
        if transport_options is not None and not isinstance(transport_options, Mapping):
            raise TypeError(f"transport_options must be a mapping (a dict), not {type(transport_options).__name__}")
        options_type = entry.transport.options_type
        options = None
        if transport_options is not None and options_type is not None:
            options = read_options(options_type, transport_options, transport)
        api_key = require_api_key(self._api_key) if entry.transport.needs_api_key else None
        return ClientSettings(
            api_key=api_key,
            base_url=find_base_url(self._base_url),
            max_retries=self.max_retries,
            connect_timeout=self.connect_timeout,
            idle_timeout=self.idle_timeout,
            request_timeout=self.request_timeout,
            http_client=self.http_client,
            transport_options=_hide_secrets(transport_options or {}),
            options=options,
        )

    async def arun(
        self,
        prompts: Sequence[str | Mapping[str, Any]],
        *,
        transport: str = "stream",
        max_concurrency: int = 5,
        interrupt_token: InterruptToken | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        system: Any = None,
        cache_shared_system: bool = False,
        callbacks: Sequence[Callable[[str], Any] | None] | None = None,
        transport_options: Mapping[str, Any] | None = None,
        plugins: Iterable[object] | None = None,
        **options: Any,
    ) -> list[TaskResult]:
        """Run ``prompts`` concurrently; the async twin of :meth:`run`."""
        entry = self._transport(transport)
        tasks = build_tasks(
            prompts,
            model=model if model is not None else (self.model or default_model()),
            max_tokens=max_tokens if max_tokens is not None else self.max_tokens,
            temperature=temperature,
            shared_system=system,
            cache_shared_system=cache_shared_system,
            callbacks=callbacks,
            task_options=entry.transport.task_options,
            options=options,
        )
        check_positive_int(max_concurrency, "max_concurrency")
        if interrupt_token is not None and not isinstance(interrupt_token, InterruptToken):
            raise TypeError(f"interrupt_token must be an InterruptToken, not {type(interrupt_token).__name__}")
        settings = self.settings(transport, transport_options if transport_options is not None else {})
        run = Run(tasks, transport)
        pm = self._pm
        if plugins:
            pm = plugin_manager([*self._extra_plugins, *plugins])
        scheduler = None
        if self._rate_limits is not None and entry.transport.rate_limited:
            settings = dataclasses.replace(settings, scheduler_retries=True)
            scheduler = rate_limit_scheduler(pm, RateLimitSettings(
                account_id(settings.api_key, settings.base_url), self._rate_limits, self._redis_url))
        return await execute(
            run,
            entry.transport(settings),
            RunHooks.from_manager(pm),
            max_concurrency=max_concurrency,
            interrupt_token=interrupt_token,
            prime_cache=bool(cache_shared_system and system is not None),
            scheduler=scheduler,
        )

    def run(self, prompts: Sequence[str | Mapping[str, Any]], **kwargs: Any) -> list[TaskResult]:
        """Run ``prompts`` concurrently and return one :class:`TaskResult` each, in input order.

        :param prompts: strings, or dicts with ``prompt`` and optionally
            ``system``, ``model``, ``max_tokens``, ``temperature``, ``name``,
            ``id``, ``cache_system``, ``cache_prompt`` and the transport's options.
        :param transport: ``"stream"`` (default), ``"messages"``, or any installed one.
        :param max_concurrency: requests in flight at once.
        :param interrupt_token: an :class:`InterruptToken` that stops the run.
        :param model, max_tokens, temperature: defaults for prompts that omit them.
        :param system: a system prompt shared by every prompt.
        :param cache_shared_system: mark ``system`` for prompt caching and send
            the first request alone until it starts answering (or ends, in any
            state), so the rest hit the cache.
        :param callbacks: one ``callback(chunk)`` (or ``None``) per prompt.
        :param transport_options: settings for the transport (``url``, ``token``…).
        :param plugins: plugins for this run only (a policy, a reporter).
        :param options: request options for every prompt (``extra_headers``…), and:
            ``output=`` a Pydantic model class or JSON Schema dict for a typed
            answer (``TaskResult.parsed``, see :mod:`mac_core.structured`);
            ``tools=`` API tool dicts or Python functions (``@mac_core.tool``),
            which the task then calls in a loop up to ``max_tool_rounds``
            (see :mod:`mac_core.tool_loop`).

        Blocks until every task is terminal. Ctrl-C cancels the run and
        raises ``KeyboardInterrupt``. Works from scripts, threads and notebooks.
        A missing API key (:class:`~mac_core.MissingAPIKeyError`) or an
        unknown transport is raised before the run starts.
        """
        self._check_ready(kwargs.get("transport", "stream"))
        return run_sync(self.arun, prompts, **kwargs)

    async def adelegate(
        self,
        prompt: str | Mapping[str, Any],
        *,
        url: str,
        token: str | None = None,
        on_event: Callable[[Event], Any] | None = None,
        transport: str = "agent-ws",
        allow_insecure: bool = False,
        interrupt_token: InterruptToken | None = None,
        **options: Any,
    ) -> TaskResult:
        """Hand ``prompt`` to a tool-enabled agent over WebSocket; the async twin of :meth:`delegate`."""
        transport_options: dict[str, Any] = {"url": url, "allow_insecure": allow_insecure}
        if token is not None:
            if not isinstance(token, (str, Secret)):
                raise TypeError(f"token must be a string, not {type(token).__name__}")
            transport_options["token"] = checked_secret(token, "the token argument")
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be callable, not {type(on_event).__name__}")
        (result,) = await self.arun(
            [prompt],
            transport=transport,
            max_concurrency=1,
            interrupt_token=interrupt_token,
            transport_options=transport_options,
            plugins=[EventForwarder(on_event)] if on_event is not None else None,
            **options,
        )
        return result

    def delegate(self, prompt: str | Mapping[str, Any], **kwargs: Any) -> TaskResult:
        """Hand ``prompt`` to a tool-enabled agent (``mac agent-server`` or claude-agent-server).

        :param url: the agent server's base URL (``http://127.0.0.1:3000``).
        :param token: its bearer token, if it has one.
        :param on_event: called with each :class:`Event` as the agent works
            (text, tool use, tool results).
        :param allow_insecure: allow ``http://``/``ws://`` to a host that is not
            loopback (the token would travel in clear).
        :param options: agent options such as ``allowedTools``, ``systemPrompt``.
        :return: the agent's :class:`TaskResult` (``text`` is its final result).
        """
        return run_sync(self.adelegate, prompt, **kwargs)

    async def ahybrid(self, analyses: Sequence[str | Mapping[str, Any]], decide: Decide, **kwargs: Any) -> HybridResult:
        """Analysis, decision, implementation; the async twin of :meth:`hybrid`."""
        return await run_hybrid(self, analyses, decide, **kwargs)

    def hybrid(self, analyses: Sequence[str | Mapping[str, Any]], decide: Decide, **kwargs: Any) -> HybridResult:
        """Fan analyses out, decide on what they found, delegate the fix to an agent.

        See :func:`mac_core.workflow.run_hybrid` for the parameters.
        """
        self._check_ready(kwargs.get("analysis_transport", "stream"))
        return run_sync(self.ahybrid, analyses, decide, **kwargs)

    def thread(self, **kwargs: Any) -> Thread:
        """A conversation on this coordinator's plugins: ``send`` a turn, ``fork`` continuations.

        See :class:`mac_core.thread.Thread` for the parameters and what it keeps.
        """
        from .thread import Thread

        return Thread(self, **kwargs)

    async def aorchestrate(self, goal: str, **kwargs: Any) -> Orchestration:
        """A lead model that spawns workers on this engine; the async twin of :meth:`orchestrate`."""
        from .orchestrator import run_orchestration

        return await run_orchestration(self, goal, **kwargs)

    def orchestrate(self, goal: str, **kwargs: Any) -> Orchestration:
        """Give a lead model a ``spawn_agents`` tool and run the workers it asks for, until it answers.

        See :func:`mac_core.orchestrator.run_orchestration` for the parameters and the limits.
        """
        self._check_ready(kwargs.get("transport", "stream"))
        return run_sync(self.aorchestrate, goal, **kwargs)

    def __repr__(self) -> str:
        return f"<Coordinator transports={sorted(self._transports)}>"


#: Transport option names whose values are secrets (wrapped in :class:`Secret` so no repr shows them).
SECRET_OPTIONS = frozenset({"token", "api_key", "anthropic_api_key", "password"})


def _hide_secrets(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: Secret(v) if k in SECRET_OPTIONS and isinstance(v, str) else v for k, v in options.items()}


class EventForwarder:
    """A one-run plugin that hands every event to ``on_event(event)``."""

    def __init__(self, on_event: Callable[[Event], Any]) -> None:
        self.on_event = on_event

    @hookimpl
    def mac_task_event(self, event: Event) -> None:
        self.on_event(event)
