"""The hybrid workflow: analysis (many agents) → decision (your code) → implementation (one tool agent).

::

    def decide(analyses):
        if not any("CRITICAL" in a.text for a in analyses):
            return None  # nothing to fix
        return "Fix the critical findings below in app.py.\\n\\n" + findings_report(analyses)

    outcome = Coordinator(plugins=[StopOnPattern("CRITICAL")]).hybrid(
        [{"name": "security", "prompt": ...}, {"name": "performance", "prompt": ...}],
        decide,
        agent_url="http://127.0.0.1:3000",
    )
    outcome.implementation.text  # what the agent reports it changed
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .events import Event
from .interrupt import InterruptToken
from .results import COMPLETED, TaskResult

if TYPE_CHECKING:
    from .coordinator import Coordinator

#: ``decide(analyses) -> prompt | None`` (may be async): the implementation prompt, or None to stop.
Decide = Callable[[list[TaskResult]], "str | None | Awaitable[str | None]"]


@dataclass
class HybridResult:
    """What a hybrid workflow did.

    :ivar analyses: every analysis's :class:`TaskResult`, partial ones included.
    :ivar implementation_prompt: what ``decide`` returned (``None``: nothing delegated).
    :ivar implementation: the agent's :class:`TaskResult`, or ``None``.
    """

    analyses: list[TaskResult]
    implementation_prompt: str | None
    implementation: TaskResult | None


def findings_report(analyses: Sequence[TaskResult]) -> str:
    """The analyses as one text for a decision or implementation prompt, partial ones marked."""
    sections = []
    for result in analyses:
        if result.status == COMPLETED:
            label = result.name
        elif result.text:
            label = f"{result.name} ({result.status} before the end: partial)"
        else:
            label = f"{result.name} ({result.status}, no text)"
        sections.append(f"## {label}\n\n{result.text.strip()}")
    return "\n\n".join(sections)


async def run_hybrid(
    coordinator: Coordinator,
    analyses: Sequence[str | Mapping[str, Any]],
    decide: Decide,
    *,
    agent_url: str,
    agent_token: str | None = None,
    agent_transport: str = "agent-ws",
    analysis_transport: str = "stream",
    max_concurrency: int = 5,
    interrupt_token: InterruptToken | None = None,
    system: Any = None,
    plugins: Sequence[object] | None = None,
    on_agent_event: Callable[[Event], Any] | None = None,
    agent_options: Mapping[str, Any] | None = None,
    allow_insecure: bool = False,
    **analysis_options: Any,
) -> HybridResult:
    """Run the analyses, ask ``decide`` for an implementation prompt, delegate it.

    :param analyses: the analysis prompts (strings or dicts with ``name``…).
    :param decide: gets every analysis result (interrupted ones keep their
        partial text) and returns the implementation prompt, or ``None``.
    :param agent_url, agent_token: the agent server to delegate to.
    :param agent_transport: the transport that reaches the agent (``agent-ws``).
    :param analysis_transport: ``stream`` (default) or any installed transport.
    :param plugins: plugins for the analysis phase (an interrupt policy…).
    :param on_agent_event: called with each event of the implementing agent.
    :param agent_options: agent options (``allowedTools``, ``systemPrompt``…).
    :param interrupt_token: stops whichever phase is running.
    """
    if not callable(decide):
        raise TypeError(f"decide must be callable, not {type(decide).__name__}")
    if not isinstance(agent_url, str) or not agent_url:
        raise ValueError("agent_url must be the agent server's URL")
    results = await coordinator.arun(
        analyses,
        transport=analysis_transport,
        max_concurrency=max_concurrency,
        interrupt_token=interrupt_token,
        system=system,
        plugins=plugins,
        **analysis_options,
    )
    prompt = decide(results)
    if inspect.isawaitable(prompt):
        prompt = await prompt
    if prompt is None:
        return HybridResult(results, None, None)
    if not isinstance(prompt, str) or not prompt.strip():
        raise TypeError("decide must return the implementation prompt (a non-empty string) or None")
    implementation = await coordinator.adelegate(
        prompt,
        url=agent_url,
        token=agent_token,
        on_event=on_agent_event,
        transport=agent_transport,
        allow_insecure=allow_insecure,
        interrupt_token=interrupt_token,
        **dict(agent_options or {}),
    )
    return HybridResult(results, prompt, implementation)
