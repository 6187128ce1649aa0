"""A real Agent SDK delegation on a Ray worker, offline: the bundled Claude Code CLI against the simulator.

The worker's agent is confined exactly as ``mac agent-server``'s (one
implementation, :class:`~mac_plugins.agent_server.confinement.ConfinedAgent`):
a write inside the workspace happens, a write outside is refused.
"""

from __future__ import annotations

import json

import pytest
from mac_plugins.simulator import Simulator

from mac_core import Coordinator, hookimpl

pytestmark = [
    pytest.mark.xdist_group("ray"),
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
pytest.importorskip("claude_agent_sdk")


class ToolResults:
    """The tool_result events each task's hooks saw on the driver."""

    def __init__(self) -> None:
        self.by_task: dict[int, list[dict]] = {}

    @hookimpl
    def mac_task_event(self, task, event):
        if event.type == "tool_result":
            self.by_task.setdefault(task.index, []).append(event.data)


def test_a_real_agent_on_a_ray_worker_writes_in_its_workspace_and_is_refused_outside(ray_cluster, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    inside, outside = workspace / "fixed.py", tmp_path / "outside.py"
    write = {"file_path": str(inside), "content": "print(1)\n"}
    escape = {"file_path": str(outside), "content": "print('escaped')\n"}
    prompts = [
        {"prompt": f"Fix the bug. [[tool: Write {json.dumps(write)}]]", "allowedTools": ["Read", "Write"]},
        {"prompt": f"[[tool: Write {json.dumps(escape)}]]", "allowedTools": ["Read", "Write"]},
    ]
    seen = ToolResults()
    with Simulator(tokens=10, token_delay=0) as sim:
        results = Coordinator(api_key="sk-ant-simulated", base_url=sim.url).run(
            prompts,
            transport="ray",
            max_concurrency=2,
            plugins=[seen],
            transport_options={"inner": "agent", "workspace": str(workspace), "actors": 1},
        )

    assert [r.status for r in results] == ["completed", "completed"], [r.error for r in results]
    assert inside.read_text() == "print(1)\n"
    assert not outside.exists()
    [written] = seen.by_task[0]
    assert not written.get("is_error")
    [refused] = seen.by_task[1]
    assert refused["is_error"] is True and "outside the workspace" in json.dumps(refused["content"])
    assert results[0].cost_usd is not None and results[0].usage.output_tokens > 0
