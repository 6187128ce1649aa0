"""The rate-limit scheduler: when each Messages API request may start.

:class:`RequestScheduler` is what the engine calls (and what a plugin's
``mac_rate_limit_scheduler`` returns); :class:`RateLimitScheduler` is the
built-in one, with its buckets in this process. The engine's side of the
contract is in :mod:`mac_core.rate_limits.admission`.
"""

from __future__ import annotations

import abc
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..results import CHARS_PER_TOKEN, Usage
from ..run import Task
from .buckets import LimitsSeen, ModelBudget, read_headers, retry_after
from .counting import counted_input_tokens
from .settings import ANY_MODEL, RateLimits, RateLimitSettings

#: Tokens a request costs beyond its text (roles, framing), added to the local estimate.
REQUEST_OVERHEAD_TOKENS = 8
#: Seconds a 429 or 529 without ``retry-after`` blocks a model: ``0.5 * 2**attempt``, at most this.
MAX_BACKOFF_SECONDS = 8.0


@dataclass(slots=True)
class Reservation:
    """One request's claim on its model's budget.

    :ivar model: the request's model.
    :ivar costs: what it costs: (requests, input tokens (an estimate), output tokens (``max_tokens``)).
    :ivar wait: 0 when the costs were charged and the request may go now;
        else nothing was charged and this is how long until the budget would
        hold them (refill alone: answers that give tokens back may shorten it),
        so the engine waits (at most ``POLL_SECONDS`` at a time) and asks again;
        ``math.inf``: it can never fit (``reason`` says why) and its task fails at once.
    :ivar reason: the limit it waits for (``"output tokens per minute"``, ``"retry-after"``…), or ``None``.
    :ivar send_at: ``time.monotonic()`` when it was charged.
    :ivar counts_then: what its budget had given back and taken by then (to read its response's ``remaining``).
    :ivar max_tokens: the request's ``max_tokens``, charged or not (the far side charges it either way).
    """

    model: str
    costs: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wait: float = 0.0
    reason: str | None = None
    send_at: float = 0.0
    counts_then: tuple[tuple[float, float], ...] | None = None
    max_tokens: int = 0


class RequestScheduler(abc.ABC):
    """Decides when each request may start; told how each one ended. One per account, shared by runs.

    The engine calls, for each Messages API request (each round of a tool loop too):
    :meth:`reserve` before sending, again after a wait for as long as it
    answers with ``reservation.wait > 0`` (nothing charged), then, for the
    reservation that was charged, exactly one of :meth:`answered`, :meth:`refused` (a 429
    or 529: the engine sends it again after a new :meth:`reserve`, up to
    ``max_retries`` times) or :meth:`released` (cancelled while waiting or in
    flight, or failed otherwise). Methods may be called from several threads'
    event loops at once (runs of the sync API in threads): guard shared state.
    """

    @abc.abstractmethod
    async def reserve(self, task: Task) -> Reservation:
        """Charge ``task``'s next request to its model's budget if it fits; else say how long until it would."""

    @abc.abstractmethod
    async def answered(
        self, reservation: Reservation, headers: Mapping[str, str] | None, usage: Usage | None
    ) -> None:
        """The request was answered: correct the estimates with ``usage``, learn from the response ``headers``."""

    @abc.abstractmethod
    async def refused(
        self, reservation: Reservation, status_code: int, headers: Mapping[str, str] | None, attempt: int
    ) -> None:
        """The request was refused with ``status_code`` 429 or 529 (its ``attempt``-th, from 0): slow down."""

    @abc.abstractmethod
    async def released(self, reservation: Reservation) -> None:
        """The request was not answered (cancelled, or failed otherwise): give back what it will not use."""

    def count_tokens(self, model: str) -> bool:
        """Whether the engine asks the API's ``count_tokens`` for ``model``'s requests before :meth:`reserve`.

        When it does, :func:`estimate_input_tokens` returns the count during :meth:`reserve`
        (the local estimate if counting failed). Default: never.
        """
        return False


#: The counts of a budget not made yet: everything it will give back or take came after.
_NONE_YET = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0))


def estimate_input_tokens(task: Task) -> int:
    """The input tokens of ``task``'s next request: the API's count if one was asked for and answered
    (:mod:`~mac_core.rate_limits.counting`), else a fast local estimate (its text at ``CHARS_PER_TOKEN``)."""
    counted = counted_input_tokens.get()
    if counted is not None:
        return counted
    chars = _chars(task.options.get("messages") or task.prompt) + _chars(task.system)
    tools = task.options.get("tools")
    if tools:
        chars += len(repr(tools))
    return math.ceil(chars / CHARS_PER_TOKEN) + REQUEST_OVERHEAD_TOKENS


def _chars(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    if isinstance(content, Mapping):
        text = content.get("text")
        if isinstance(text, str):
            return len(text)
        inner = content.get("content")
        return _chars(inner) if inner is not None else len(repr(content))
    if isinstance(content, (list, tuple)):
        return sum(_chars(item) for item in content)
    return len(str(content))


def input_tokens_charged(usage: Usage) -> int:
    """The input tokens the API counts against the limit: cache reads are not counted, cache writes are."""
    return usage.input_tokens + usage.cache_creation_input_tokens


def backoff_seconds(attempt: int) -> float:
    """How long a refusal without ``retry-after`` blocks its model: exponential, jittered, capped."""
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt) * (1 - 0.25 * random.random())


class RateLimitScheduler(RequestScheduler):
    """The built-in scheduler: every model's budget in this process (token buckets, AIMD pace, retry-after).

    A model with no limit known (none given, no ``anthropic-ratelimit-*``
    header seen, no refusal yet) costs one dict lookup per request.
    """

    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self._given: Mapping[str, RateLimits] = settings.limits
        self._budgets: dict[str, ModelBudget] = {}
        self._lock = threading.Lock()

    # --- what the engine calls -------------------------------------------------

    async def reserve(self, task: Task) -> Reservation:
        """See :meth:`RequestScheduler.reserve`."""
        return self.reserve_now(task)

    async def answered(
        self, reservation: Reservation, headers: Mapping[str, str] | None, usage: Usage | None
    ) -> None:
        """See :meth:`RequestScheduler.answered`."""
        self.answered_now(reservation, headers, usage)

    async def refused(
        self, reservation: Reservation, status_code: int, headers: Mapping[str, str] | None, attempt: int
    ) -> None:
        """See :meth:`RequestScheduler.refused`."""
        self.refused_now(reservation, headers, attempt)

    async def released(self, reservation: Reservation) -> None:
        """See :meth:`RequestScheduler.released`."""
        self.released_now(reservation)

    def count_tokens(self, model: str) -> bool:
        """See :meth:`RequestScheduler.count_tokens`: as ``RateLimits(count_tokens=True)`` says for ``model``."""
        given = self._given.get(model) or self._given.get(ANY_MODEL)
        return given is not None and given.count_tokens

    # --- the same, synchronously (a shared scheduler runs them in a worker thread) ---

    def reserve_now(self, task: Task) -> Reservation:
        """:meth:`reserve` without awaiting."""
        budget = self._budgets.get(task.model)
        if budget is None and not self._given:
            return Reservation(
                task.model, send_at=time.monotonic(), counts_then=_NONE_YET, max_tokens=task.max_tokens
            )
        now = time.monotonic()
        with self._lock:
            budget = budget or self._budget(task.model, now)
            if not budget.limited and budget.blocked_until <= now:
                return Reservation(
                    task.model, send_at=now, counts_then=budget.counts(), max_tokens=task.max_tokens
                )
            costs = (1.0, float(estimate_input_tokens(task)), float(task.max_tokens))
            never = budget.never_fits(costs, task.model)
            if never is not None:  # waiting would never end: the engine fails the task at once
                return Reservation(task.model, wait=math.inf, reason=never, max_tokens=task.max_tokens)
            wait, reason = self._take(task.model, budget, costs, now)
            return Reservation(task.model, costs, wait, reason, now, budget.counts(), task.max_tokens)

    def answered_now(
        self, reservation: Reservation, headers: Mapping[str, str] | None, usage: Usage | None
    ) -> None:
        """:meth:`answered` without awaiting."""
        seen = read_headers(headers)
        budget = self._budgets.get(reservation.model)
        if budget is None and seen is None:
            return
        now = time.monotonic()
        charged = bool(reservation.costs[0])
        with self._lock:
            budget = budget or self._budget(reservation.model, now)
            if seen is not None and not charged:  # its counts were taken before its end gave anything back
                self._learn(
                    reservation.model, budget, seen, now - reservation.send_at, now, reservation.counts_then
                )
            if usage is not None and charged:
                _, estimated, reserved = reservation.costs
                corrections = (0.0, estimated - input_tokens_charged(usage), reserved - usage.output_tokens)
                self._give_back(reservation.model, budget, corrections, now)
            elif usage is not None and budget.limited:
                # sent before the limits were known: the far side charged its max_tokens and gives back the rest
                self._give_back(
                    reservation.model, budget, (0.0, 0.0, reservation.max_tokens - usage.output_tokens), now
                )
            if (
                seen is not None and charged
            ):  # what came back since it was sent (this answer's too) is credited
                self._learn(
                    reservation.model, budget, seen, now - reservation.send_at, now, reservation.counts_then
                )
            budget.speed_up()

    def refused_now(self, reservation: Reservation, headers: Mapping[str, str] | None, attempt: int) -> None:
        """:meth:`refused` without awaiting."""
        now = time.monotonic()
        seconds = retry_after(headers)
        with self._lock:
            budget = self._budgets.get(reservation.model) or self._budget(reservation.model, now)
            if reservation.costs[0]:
                self._give_back(
                    reservation.model, budget, reservation.costs, now
                )  # the far side took nothing
            seen = read_headers(headers)
            if seen is not None:
                counts = reservation.counts_then
                # its own give-back above is not news to the far side, which never took it
                if counts is not None and reservation.costs[0]:
                    counts = tuple((r + c, t) for (r, t), c in zip(counts, reservation.costs, strict=True))
                age = now - reservation.send_at if reservation.send_at else 0.0
                self._learn(reservation.model, budget, seen, age, now, counts)
            self._slow_down(
                reservation.model, budget, seconds if seconds is not None else backoff_seconds(attempt), now
            )

    def released_now(self, reservation: Reservation) -> None:
        """:meth:`released` without awaiting."""
        if not reservation.costs[2]:
            return
        budget = self._budgets.get(reservation.model)
        if budget is None:
            return
        now = time.monotonic()
        with self._lock:  # the request may have been sent: keep its request and input, return its output
            self._give_back(reservation.model, budget, (0.0, 0.0, reservation.costs[2]), now)

    # --- where the buckets live (a shared scheduler keeps them elsewhere) -------

    def _budget(self, model: str, now: float) -> ModelBudget:
        """``model``'s budget, made on first use from the limits given (under the lock)."""
        budget = self._budgets.get(model)
        if budget is None:
            given = self._given.get(model) or self._given.get(ANY_MODEL) or RateLimits()
            budget = self._budgets[model] = ModelBudget((given.rpm, given.itpm, given.otpm), now)
        return budget

    def _take(
        self, model: str, budget: ModelBudget, costs: tuple[float, float, float], now: float
    ) -> tuple[float, str | None]:
        return budget.take(costs, now)

    def _give_back(
        self, model: str, budget: ModelBudget, amounts: tuple[float, float, float], now: float
    ) -> None:
        budget.give_back(amounts, now)

    def _learn(
        self,
        model: str,
        budget: ModelBudget,
        seen: LimitsSeen,
        age: float,
        now: float,
        counts_then: tuple[tuple[float, float], ...] | None,
    ) -> None:
        budget.learn(seen, age, now, counts_then)

    def _slow_down(self, model: str, budget: ModelBudget, seconds: float, now: float) -> None:
        budget.slow_down(seconds, now)

    def budget(self, model: str) -> ModelBudget | None:
        """``model``'s budget as it stands (limits, pace, buckets), or ``None`` if nothing is known of it."""
        return self._budgets.get(model)
