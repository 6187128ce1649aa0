"""multi-agent-coordination: coordinate many Claude agents at once.

The classic functions::

    from mac_core import invoke_parallel, invoke_parallel_streaming, InterruptToken

The rich API::

    from mac_core import Coordinator
    results = Coordinator().run(["Review A", "Review B"], transport="stream")

Plugins::

    from mac_core import hookimpl, Interrupt
"""

from .coordinator import Coordinator, default_model
from .credentials import MissingAPIKeyError, Secret
from .events import Event
from .interrupt import Interrupt, InterruptToken
from .invoke import (
    ClaudeInvocationError,
    invoke_claude,
    invoke_claude_streaming,
    invoke_parallel,
    invoke_parallel_interruptible,
    invoke_parallel_streaming,
)
from .plugins import hookimpl
from .results import TaskResult, Usage
from .run import Run, Task
from .transport import ClientSettings, Completion, Transport, TransportError
from .workflow import HybridResult, findings_report

__version__ = "0.1.0"

__all__ = [
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
]
