"""Which fault, if any, a Messages request gets: forced by a header, or drawn at random.

``x-mac-sim-fault: KIND`` forces KIND on every attempt; ``KIND:N`` forces it
only while the SDK's ``x-stainless-retry-count`` header is below N, so
``rate_limit:1`` is a 429 and then, on the SDK's retry, a success. With a
``fault_rate``, each request draws from a ``random.Random(seed)`` (the header
wins when both apply), so the same sequence of requests meets the same faults.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from .settings import FAULT_KINDS, SimulatorSettings
from .wire import ApiError

FAULT_HEADER = "x-mac-sim-fault"
RETRY_AFTER_HEADER = "x-mac-sim-retry-after"
RETRY_COUNT_HEADER = "x-stainless-retry-count"


class FaultPicker:
    """Decides the fault of each request; one per simulator, used on its event loop only."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self._rate = settings.fault_rate
        self._kinds = settings.faults
        self._random = random.Random(settings.seed)

    def pick(self, headers: Mapping[str, str]) -> str | None:
        """The fault for a request with these (lower-case) headers, or ``None``; a bad header is a 400."""
        drawn = None
        if self._rate > 0 and self._random.random() < self._rate:
            drawn = self._random.choice(self._kinds)
        forced = headers.get(FAULT_HEADER)
        if forced is None:
            return drawn
        kind, _, limit = forced.strip().partition(":")
        if kind not in FAULT_KINDS or (limit and not limit.strip().isdigit()):
            raise ApiError(400, f"{FAULT_HEADER}: expected KIND or KIND:N with KIND one of {', '.join(FAULT_KINDS)}")
        if limit and _retry_count(headers) >= int(limit):
            return None
        return kind


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    """The ``retry-after`` of a ``rate_limit`` fault: the request's ``x-mac-sim-retry-after`` or ``default``."""
    value = headers.get(RETRY_AFTER_HEADER)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ApiError(400, f"{RETRY_AFTER_HEADER}: expected seconds, got {value!r}") from None
    if not 0 <= seconds <= 3600:
        raise ApiError(400, f"{RETRY_AFTER_HEADER}: expected 0 to 3600 seconds, got {value!r}")
    return seconds


def _retry_count(headers: Mapping[str, str]) -> int:
    value = headers.get(RETRY_COUNT_HEADER, "0")
    return int(value) if value.isdigit() else 0
