"""What a user says about rate limits: per-model limits, a Redis URL, and the checks on both."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..credentials import Secret

REDIS_URL_ENV = "MAC_REDIS_URL"
#: The key of :attr:`RateLimitSettings.limits` whose limits apply to every model not named.
ANY_MODEL = "*"
#: What a dict of limits may say.
_FIELDS = ("rpm", "itpm", "otpm", "count_tokens")


@dataclass(frozen=True)
class RateLimits:
    """One model's limits per minute, as the API publishes them; ``None`` leaves one to the response headers.

    :ivar rpm: requests per minute.
    :ivar itpm: input tokens per minute (cache reads do not count, cache writes do).
    :ivar otpm: output tokens per minute (a request is charged its ``max_tokens`` when it starts).
    :ivar count_tokens: ask the API's ``count_tokens`` for each request's input tokens before charging
        them (one more request each, not counted against the limits), instead of the local estimate;
        a count that fails falls back to the local estimate.
    """

    rpm: int | None = None
    itpm: int | None = None
    otpm: int | None = None
    count_tokens: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.count_tokens, bool):
            raise ValueError(f"count_tokens must be True or False, got {self.count_tokens!r}")
        for name in ("rpm", "itpm", "otpm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"rate limit {name} must be a positive integer (per minute) or None, got {value!r}"
                )


@dataclass(frozen=True)
class RateLimitSettings:
    """How one run's requests are scheduled: what a scheduler plugin is built from.

    :ivar account: who shares the budget: a hash of the API key and base URL
        (never the key itself), so runs and processes with the same key share it.
    :ivar limits: :class:`RateLimits` by model name; :data:`ANY_MODEL` (``"*"``)
        for every model not named. Limits given here are used as given (the
        headers then only tell how much is left); the others are learnt from
        the ``anthropic-ratelimit-*`` headers of the responses.
    :ivar redis_url: a Redis server through which processes share the budget, or ``None``.
    """

    account: str
    limits: Mapping[str, RateLimits] = field(default_factory=dict)
    redis_url: Secret | None = None

    def key(self) -> tuple:
        """What tells two settings apart, so runs with equal settings share one scheduler."""
        limits = tuple(
            sorted(
                (model, (given.rpm, given.itpm, given.otpm, given.count_tokens))
                for model, given in self.limits.items()
            )
        )
        return (self.account, limits, self.redis_url.reveal() if self.redis_url is not None else None)


def account_id(api_key: Secret | None, base_url: str | None) -> str:
    """A short id for the budget of ``api_key`` at ``base_url``: a hash, so the key never leaves the process."""
    digest = hashlib.sha256()
    digest.update((base_url or "https://api.anthropic.com").rstrip("/").encode())
    digest.update(b"\0")
    digest.update(api_key.reveal().encode() if api_key is not None else b"")
    return digest.hexdigest()[:16]


def read_rate_limits(value: Any, name: str = "rate_limits") -> dict[str, RateLimits] | None:
    """``rate_limits=`` as limits by model, or ``None`` for "the scheduler is off" (``False``).

    Takes ``None`` or ``True`` (learn every limit from the headers), ``False``
    (no scheduler: the SDK retries 429s on its own), a :class:`RateLimits` or a
    dict ``{"rpm": 120, ...}`` for every model, or a dict of those by model
    name (``"*"`` for the rest).

    :raises ValueError: naming the setting and what is wrong with it.
    """
    if value is False:
        return None
    if value is None or value is True:
        return {}
    if isinstance(value, RateLimits):
        return {ANY_MODEL: value}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name} must be a RateLimits, a dict of limits, or False, not {type(value).__name__}"
        )
    if value and all(key in _FIELDS for key in value):
        return {ANY_MODEL: _limits_of(value, name)}
    limits = {}
    for model, model_limits in value.items():
        if not isinstance(model, str) or not model:
            raise ValueError(f"{name}: a model name must be a non-empty string, got {model!r}")
        where = f"{name}[{model!r}]"
        limits[model] = (
            model_limits if isinstance(model_limits, RateLimits) else _limits_of(model_limits, where)
        )
    return limits


def _limits_of(value: Any, where: str) -> RateLimits:
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{where} must be a RateLimits or a dict with rpm, itpm, otpm, not {type(value).__name__}"
        )
    unknown = [key for key in value if key not in _FIELDS]
    if unknown:
        raise ValueError(f"{where}: unknown limit {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    try:
        return RateLimits(**value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def read_redis_url(value: Any, name: str = "redis_url") -> Secret | None:
    """``value`` (else ``$MAC_REDIS_URL``) as a :class:`Secret`, checked; ``None`` when neither is set.

    :raises ValueError: a URL that is not ``redis://``, ``rediss://`` or
        ``unix://`` (the message never shows it: it may hold a password), or a
        URL given without the ``redis`` package installed.
    """
    if value is None:
        value = os.environ.get(REDIS_URL_ENV) or None
        name = f"${REDIS_URL_ENV}"
    if value is None:
        return None
    if isinstance(value, Secret):
        value = value.reveal()
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    scheme = urlsplit(value.strip()).scheme
    if scheme not in ("redis", "rediss", "unix"):
        shown = f"{scheme}://..." if scheme else "a URL without a scheme"
        raise ValueError(f"{name} must be a redis://, rediss:// or unix:// URL, got {shown}")
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ValueError(
            f"{name} needs the redis package: pip install 'multi-agent-coordination[redis]'"
        ) from None
    return Secret(value.strip())


def redacted(url: Secret) -> str:
    """A Redis URL fit for a log line: scheme, host and port, never a user or password."""
    parts = urlsplit(url.reveal())
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
