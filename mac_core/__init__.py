"""multi-agent-coordination: coordinate many Claude agents at once.

The classic functions::

    from mac_core import invoke_parallel, invoke_parallel_streaming, InterruptToken

Code written for the skill this project grew from (``orchestrating-agents``)
changes one import line: ``from claude_client import ...`` (or
``agent_pool``, ``orchestration``, ``task_state``) becomes
``from mac_core import ...``; see docs/migrating-from-the-skill.md.

The rich API::

    from mac_core import Coordinator
    results = Coordinator().run(["Review A", "Review B"], transport="stream")

Plugins::

    from mac_core import hookimpl, Interrupt
"""

from .agent_pool import EXECUTE_MODE, AgentMessage, AgentPool, SpawnReservation
from .conversation import ConversationThread
from .coordinator import Coordinator, default_model
from .credentials import MissingAPIKeyError, Secret
from .events import Event
from .interrupt import Interrupt, InterruptToken
from .invocation_errors import (
    ERROR_AUTH,
    ERROR_CONNECTION,
    ERROR_CONTEXT_TOO_LONG,
    ERROR_OUTPUT_PARSE,
    ERROR_OVERLOADED,
    ERROR_RATE_LIMIT,
    ERROR_UNKNOWN,
    ClaudeInvocationError,
    Fail,
    Retry,
)
from .invoke import (
    invoke_claude,
    invoke_claude_streaming,
    invoke_parallel,
    invoke_parallel_interruptible,
    invoke_parallel_streaming,
)
from .json_answers import invoke_claude_json, parse_json_response
from .models_api import get_available_models
from .orchestration import (
    ConcurrencyLimiter,
    compute_backoff_delay,
    invoke_parallel_managed,
    invoke_parallel_with_reconciliation,
    invoke_with_retry,
)
from .orchestrator import Orchestration
from .plugins import hookimpl
from .results import TaskResult, Usage
from .run import Run, Task
from .skill_credentials import get_anthropic_api_key
from .stall import StallDetector
from .task_state import TERMINAL_STATES, InvalidTransitionError, TaskInfo, TaskState, TaskTracker
from .thread import Thread
from .tools import Tool, tool
from .transport import ClientSettings, Completion, Transport, TransportError
from .workflow import HybridResult, findings_report

__version__ = "0.1.0"

__all__ = [
    "AgentMessage",
    "AgentPool",
    "ConcurrencyLimiter",
    "ConversationThread",
    "ERROR_AUTH",
    "ERROR_CONNECTION",
    "ERROR_CONTEXT_TOO_LONG",
    "ERROR_OUTPUT_PARSE",
    "ERROR_OVERLOADED",
    "ERROR_RATE_LIMIT",
    "ERROR_UNKNOWN",
    "EXECUTE_MODE",
    "Fail",
    "InvalidTransitionError",
    "Retry",
    "SpawnReservation",
    "StallDetector",
    "TERMINAL_STATES",
    "TaskInfo",
    "TaskState",
    "Orchestration",
    "TaskTracker",
    "Thread",
    "compute_backoff_delay",
    "get_anthropic_api_key",
    "get_available_models",
    "invoke_claude_json",
    "invoke_parallel_managed",
    "invoke_parallel_with_reconciliation",
    "invoke_with_retry",
    "parse_json_response",
    "ClaudeInvocationError",
    "ClientSettings",
    "Completion",
    "Coordinator",
    "Event",
    "HybridResult",
    "Interrupt",
    "InterruptToken",
    "MissingAPIKeyError",
    "Run",
    "Secret",
    "Task",
    "TaskResult",
    "Tool",
    "Transport",
    "TransportError",
    "Usage",
    "default_model",
    "findings_report",
    "hookimpl",
    "invoke_claude",
    "invoke_claude_streaming",
    "invoke_parallel",
    "invoke_parallel_interruptible",
    "invoke_parallel_streaming",
    "tool",
]
