"""Delegation overhead: a scripted multi-step turn through ``agent-ws`` → ``AgentServer`` vs the Agent SDK in-process.

Both paths drive the same bundled Claude Code CLI against the same simulator;
each turn is cold on both sides (the simulator scripts a session by its first
message, so every turn is a new session): ``query()`` starts its CLI, and a
fresh server starts its CLI on the WebSocket connection. The added latency
per message is the difference of the median turn times divided by the SDK
messages in a turn (7: init, 3 assistant, 2 tool results, result).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

TOOLS = ["Read", "Write", "Edit", "Glob", "Grep"]


def scripted_prompt(workspace: Path, turn: int) -> str:
    """Write a file, read it back, then answer: three model requests and two tool calls."""
    target = str(workspace / f"note{turn}.txt")
    write = json.dumps({"file_path": target, "content": f"turn {turn}\n"})
    read = json.dumps({"file_path": target})
    return f"[[tool: Write {write}]] [[tool: Read {read}]] [[reply: finished turn {turn}]]"


def backend_env(sim_url: str, home: Path) -> dict[str, str]:
    """The CLI's environment: the simulator as the API, a private config directory."""
    return {"ANTHROPIC_BASE_URL": sim_url, "ANTHROPIC_API_KEY": "sk-ant-bench", "CLAUDE_CONFIG_DIR": str(home)}


async def through_server(sim_url: str, root: Path, turn: int) -> tuple[float, int]:
    """One turn via ``Coordinator.adelegate`` to a fresh ``AgentServer`` (its CLI starts on the connection)."""
    from mac_plugins.agent_server import AgentServer

    from mac_core import Coordinator

    workspace = root / f"server-ws{turn}"
    workspace.mkdir()
    server = AgentServer(workspace, env=backend_env(sim_url, root / f"server-home{turn}")).start()
    seen: list[Any] = []
    try:
        since = time.perf_counter()
        result = await Coordinator().adelegate(scripted_prompt(workspace, turn), url=server.url, on_event=seen.append)
        elapsed = time.perf_counter() - since
    finally:
        server.stop(timeout=10)
    if result.status != "completed":
        raise RuntimeError(f"delegated turn {result.status}: {result.error}")
    return elapsed, len(seen)


async def in_process(sim_url: str, root: Path, turn: int) -> tuple[float, int]:
    """One turn with ``claude_agent_sdk.query()`` in this process (its CLI starts with the call), same options."""
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    workspace = root / f"local-ws{turn}"
    workspace.mkdir()
    options = ClaudeAgentOptions(
        cwd=str(workspace), permission_mode="acceptEdits", allowed_tools=TOOLS, setting_sources=[],
        strict_mcp_config=True, env=backend_env(sim_url, root / f"local-home{turn}"),
    )
    count = 0
    since = time.perf_counter()
    async for message in query(prompt=scripted_prompt(workspace, turn), options=options):
        count += 1
        if isinstance(message, ResultMessage) and message.is_error:
            raise RuntimeError(f"in-process turn failed: {message.result}")
    return time.perf_counter() - since, count


def delegate_main(spec: dict[str, Any]) -> dict[str, Any]:
    """``turns`` cold turns each way, alternating; returns the comparison."""
    os.environ.pop("ANTHROPIC_API_KEY", None)
    local_times, local_counts, ws_times, ws_counts = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="mac-bench-") as tmp:
        root = Path(tmp)
        for turn in range(spec["turns"]):
            elapsed, count = asyncio.run(in_process(spec["url"], root, turn))
            local_times.append(elapsed)
            local_counts.append(count)
            elapsed, count = asyncio.run(through_server(spec["url"], root, turn))
            ws_times.append(elapsed)
            ws_counts.append(count)
    local, remote = statistics.median(local_times), statistics.median(ws_times)
    messages = statistics.mean(local_counts)
    return {
        "in_process_turn_s": local_times,
        "agent_ws_turn_s": ws_times,
        "messages_per_turn": messages,
        "events_per_turn_agent_ws": statistics.mean(ws_counts),
        "added_per_turn_s": remote - local,
        "added_per_message_s": (remote - local) / max(messages, 1),
        "ratio": remote / local,
    }
