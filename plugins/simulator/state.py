"""Everything one simulator shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from anyio.abc import TaskGroup
from starlette.requests import Request

from .cache import PromptCache
from .faults import FaultPicker
from .rate_limits import RateLimiter, RateLimits
from .settings import SimulatorSettings, SimulatorStats


@dataclass
class SimulatorState:
    """The settings, counters, prompt cache, fault draw and rate-limit buckets of one simulator app.

    ``tasks`` is the app's task group for background work (batches), open
    while the app's lifespan runs.
    """

    settings: SimulatorSettings
    stats: SimulatorStats = field(default_factory=SimulatorStats)
    cache: PromptCache = field(default_factory=PromptCache)
    tasks: TaskGroup | None = None
    faults: FaultPicker = field(init=False)
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.faults = FaultPicker(self.settings)
        settings = self.settings
        self.limiter = RateLimiter(
            RateLimits(settings.rpm, settings.itpm, settings.otpm), settings.model_limits
        )


def state_of(request: Request) -> SimulatorState:
    """The simulator state of the app serving ``request``."""
    return request.app.state.simulator
