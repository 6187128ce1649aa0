"""The demo, end to end: analysts stream, a policy stops them, an agent fixes the flaw.

Everything runs on loopback: the embedded simulator stands in for the model
when there is no API key, and the implementing agent is the real Claude
Agent SDK runtime behind ``mac agent-server`` when the ``agent`` extra is
installed (the simulator's scripted agent otherwise).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from mac_core import Coordinator, Event, TaskResult
from mac_core.credentials import find_api_key, find_base_url

from .scenario import BUNDLED_SAMPLE, FINDING_MARK, analysis_prompts, finding_in, implementation_prompt

SIMULATED_KEY = "sk-mac-simulated"
SIMULATED_WORDS = "the analysts' and the agent's words are scripted, the machinery is real."


@dataclass
class DemoOptions:
    """What ``mac demo`` was asked to do."""

    sample: Path = BUNDLED_SAMPLE
    analysts: int = 3
    workspace: Path = Path("mac-demo-workspace")
    agent_url: str | None = None
    agent_token: str | None = None
    plugins: list[Any] = field(default_factory=list)
    token_delay: float = 0.03


def _agent_runtime_available() -> bool:
    return importlib.util.find_spec("claude_agent_sdk") is not None


def is_simulator(base_url: str | None) -> bool:
    """True when ``base_url`` is the embedded simulator (``mac sim``) rather than the Anthropic API.

    The simulator serves the agent protocol's ``GET /config`` beside the
    Messages API on the same port; the API has no such route.
    """
    if not base_url or "api.anthropic.com" in base_url:
        return False
    import httpx2

    try:
        answer = httpx2.get(base_url.rstrip("/") + "/config", timeout=2.0)
        return answer.status_code == 200 and isinstance(answer.json().get("config"), dict)
    except (httpx2.HTTPError, ValueError, AttributeError):
        return False


def _demo_plugins(plugins: list[Any], console: Console, finding: str | None) -> list[Any]:
    """``plugins`` with the live view drawn on the demo's console, marking a task that wrote ``finding`` as found."""
    from mac_plugins.reporters.live import RichReporter

    # One console for the live view and the demo's own lines: rich then keeps them apart instead of garbling both.
    return [RichReporter(console=console, finding=finding, max_rows=plugin.max_rows,
                         refresh_per_second=plugin.refresh_per_second)
            if isinstance(plugin, RichReporter) else plugin for plugin in plugins]


def _shows_events(plugins: list[Any]) -> bool:
    """True when a reporter among ``plugins`` already shows what the agent does."""
    from mac_plugins.reporters import PlainReporter
    from mac_plugins.reporters.live import RichReporter

    return any(isinstance(plugin, (RichReporter, PlainReporter)) for plugin in plugins)


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo; return the exit code (0 when the flaw was fixed)."""
    external_simulator = find_api_key() is not None and is_simulator(find_base_url())
    simulated = find_api_key() is None or external_simulator
    workspace = options.workspace.resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    target = workspace / options.sample.name
    shutil.copyfile(options.sample, target)
    original = target.read_text()

    with contextlib.ExitStack() as stack:
        coordinator_args: dict[str, Any] = {}
        if external_simulator:
            console.print(f"[bold]Model:[/] the simulator at {find_base_url()} (ANTHROPIC_BASE_URL); {SIMULATED_WORDS}")
        elif simulated:
            from mac_plugins.simulator import Simulator

            sim = stack.enter_context(
                Simulator(tokens=160, token_delay=options.token_delay, ttft=0.2, agent_workspace=workspace)
            )
            coordinator_args = {"api_key": SIMULATED_KEY, "base_url": sim.url}
            console.print(f"[bold]Model:[/] the simulator, embedded at {sim.url} (no ANTHROPIC_API_KEY set); "
                          f"{SIMULATED_WORDS}")
        else:
            console.print("[bold]Model:[/] the Anthropic API (ANTHROPIC_API_KEY is set).")

        agent_url, agent_label = options.agent_url, f"the agent server at {options.agent_url}"
        if agent_url is None and _agent_runtime_available():
            from mac_plugins.agent_server import AgentServer

            env = {"ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": SIMULATED_KEY} if coordinator_args else {}
            server = stack.enter_context(AgentServer(workspace=workspace, env=env))
            agent_url = server.url
            agent_label = "the real Claude Agent SDK runtime (mac agent-server, claude-agent-sdk)"
        elif agent_url is None and simulated:
            agent_url = sim.url if coordinator_args else find_base_url()
            agent_label = "the simulator's scripted agent (install the 'agent' extra for the real runtime)"
        elif agent_url is None:
            console.print("[red]The real API needs a real agent: pip install 'multi-agent-coordination[agent]' or pass --agent-url.")
            return 2
        console.print(f"[bold]Agent:[/] {agent_label}; workspace {workspace}")
        console.print(f"[bold]Sample:[/] {options.sample} → {target}\n")

        started = time.monotonic()
        analyses = Coordinator(plugins=_demo_plugins(options.plugins, console, FINDING_MARK), **coordinator_args).run(
            analysis_prompts(options.sample, options.analysts, simulated),
            transport="stream",
            max_concurrency=options.analysts,
            max_tokens=1024,
        )
        _tell_analyses(console, analyses)

        prompt = implementation_prompt(analyses, target, simulated, options.sample == BUNDLED_SAMPLE)
        implementation = None
        if prompt is None:
            console.print("\nNo CRITICAL finding: nothing to delegate.")
        else:
            console.print("\n[bold]Delegating the fix[/] to the agent over WebSocket:")
            plugins = _demo_plugins(options.plugins, console, None)  # the agent fixes the finding; it finds nothing
            implementation = Coordinator(plugins=plugins, **coordinator_args).delegate(
                {"name": "implementer", "prompt": prompt},
                url=agent_url,
                token=options.agent_token,
                on_event=None if _shows_events(plugins) else lambda event: _show_agent_event(console, event),
                allowedTools=["Read", "Edit", "Write"],
            )
        elapsed = time.monotonic() - started

    _summary(console, analyses, implementation, elapsed)
    changed = target.read_text()
    diff = "".join(difflib.unified_diff(original.splitlines(True), changed.splitlines(True),
                                        f"a/{options.sample.name}", f"b/{options.sample.name}"))
    if diff:
        console.print(Syntax(diff, "diff", theme="ansi_dark"))
        console.print(f"The changed file is {target}")
    else:
        console.print("The file was not changed.")
    ok = implementation is not None and implementation.status == "completed" and bool(diff)
    return 0 if ok else 1


def _tail(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return ("…" + text[-width:]) if len(text) > width else text


def _word(result: TaskResult, analyst: bool = True) -> str:
    """The status word of ``result`` in the live view's set: ``found`` for an analyst that wrote a finding."""
    from mac_plugins.reporters.live import FOUND, status_word

    found = analyst and result.status in ("completed", "interrupted") and FINDING_MARK in result.text
    return status_word(FOUND if found else result.status)


def _tell_analyses(console: Console, analyses: list[TaskResult]) -> None:
    """One line per analyst: the finding in full for the one that found it, the last words of the others."""
    story = Table.grid(padding=(0, 2), pad_edge=True)  # wrapped text stays in its column, under its own start
    story.add_column(style="bold", no_wrap=True)
    story.add_column(no_wrap=True)
    story.add_column()
    for result in analyses:
        word = _word(result)
        if result.status == "failed":
            said = result.error or ""
        elif word == "found":
            said = finding_in(result.text) or ""
        elif result.status == "interrupted":
            said = f"cut off at “{_tail(result.text, 60)}”" if result.text else "before it wrote a word"
        else:
            said = _tail(result.text, 60)
        story.add_row(result.name, word, Text(said))
    console.print()
    console.print(story)


def _show_agent_event(console: Console, event: Event) -> None:
    if event.type == "tool_use":
        data = event.data or {}
        target = (data.get("input") or {}).get("file_path", "")
        console.print(f"  [cyan]agent[/] uses {data.get('name')} {target}")
    elif event.type == "tool_result":
        console.print("  [cyan]agent[/] got the tool's result")


def _summary(console: Console, analyses: list[TaskResult], implementation: TaskResult | None, elapsed: float) -> None:
    table = Table(title=f"mac demo: {elapsed:.1f} s")
    for column in ("agent", "status", "tokens in/out", "time"):
        table.add_column(column)
    rows = [(result, True) for result in analyses] + ([(implementation, False)] if implementation else [])
    for result, analyst in rows:
        usage = result.usage
        tokens_in = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        # A stream stopped early never got its final usage report: estimate its output from the text.
        tokens_out = str(usage.output_tokens) if usage.output_tokens or not result.text else f"~{len(result.text) // 4}"
        duration = f"{result.duration:.1f} s" if result.duration is not None else "-"
        table.add_row(result.name, _word(result, analyst), f"{tokens_in}/{tokens_out}", duration)
    console.print(table)
