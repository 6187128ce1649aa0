"""Orchestrator and workers: a lead model decides the fan-out, this engine runs it.

``Coordinator.orchestrate(goal, ...)`` (:func:`run_orchestration`) gives a
lead model one tool, ``spawn_agents``, whose input is
``{"tasks": [{"name": str, "prompt": str}, ...]}``. Each call is a *wave*: its
tasks run as one fan-out (``Coordinator.arun``) and their answers come back to
the lead as the tool's result, ``{name: {"status", "text"[, "error" |
"interrupt_reason"]}}``, until the lead answers. The lead is a tool loop
(:mod:`mac_core.tool_loop`): the calls it makes in one response run at the
same time.

Limits (``max_workers`` per wave, ``max_waves`` per spawning agent, names)
are checked in the tool: a call over one is an error ``tool_result`` saying
what was wrong and what is left, which the lead reads and acts on; it never
ends the orchestration. Only agents at a depth below ``max_depth`` are offered
the tool (the lead is at depth 0, its workers at 1...).

The lead's run and every wave's run form one :class:`TaskTree`:

* every run of it gets the coordinator's plugins and ``plugins=``, so
  reporters see each task, named by its path (``lead``, ``lead/security``,
  ``lead/security/deps``);
* a stop anywhere stops the whole tree: the caller's ``interrupt_token``, a
  policy stopping one run (``scope="run"``), a stop of the lead alone (a
  task-scoped policy), or :meth:`TaskTree.interrupt`; a worker stopped alone
  stops the workers it spawned, for its reason;
  the lead and every worker in flight end ``interrupted`` with their text so
  far, and the :class:`Orchestration` still holds every one of them;
* a policy that counts per run counts per tree: while a run of the tree
  starts, :func:`~mac_core.task_tree.counting_scope` is the tree, so the built-in budgets
  (``CostBudget``, ``TokenBudget``, ``MaxFailures``) sum the lead and every
  worker and stop the tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from typing_extensions import TypedDict

from .history import check_encodable
from .interrupt import InterruptToken
from .plugins import hookimpl
from .prompts import build_tasks, check_max_tokens, check_model, check_positive_int
from .results import TaskResult, Usage
from .task_tree import TaskTree, active, counting_scope, task_tree
from .tools import Tool, ToolInputError

if TYPE_CHECKING:
    from .coordinator import Coordinator
    from .run import Run, Task

#: The name of the lead's task and the root of every worker's path.
LEAD = "lead"
#: The tool the lead (and any worker above ``max_depth``) is given.
SPAWN_AGENTS = "spawn_agents"
#: Longest worker name the tool takes.
MAX_NAME_CHARS = 64
#: The lead's system prompt unless ``system=`` gives one.
LEAD_SYSTEM = (
    "You lead a team of worker agents. Split the goal into independent parts and give each to a worker "
    "with the spawn_agents tool (one call runs its workers at the same time and returns their answers). "
    "Call it again if their answers leave work to do, then answer the goal yourself from what they found."
)


class WorkerTask(TypedDict):
    """One worker the lead asks for: its ``name`` (unique in the orchestration) and its ``prompt``."""

    name: str
    prompt: str


@dataclass
class Wave:
    """One ``spawn_agents`` call that ran: who made it, its number for that agent, and its workers' names."""

    agent: str
    number: int
    names: list[str]


@dataclass
class Orchestration:
    """What :func:`run_orchestration` returns: the lead's answer and every worker's result.

    :ivar text: the lead's answer (its last response; partial if it was stopped).
    :ivar lead: the lead's :class:`TaskResult` (name ``"lead"``; its
        ``tool_calls`` are its ``spawn_agents`` calls, each with the answers it got).
    :ivar workers: every worker's :class:`TaskResult` in the order they were
        spawned, keyed by the name the lead gave it (``"security"``; a
        sub-worker's key is its path below the lead, ``"security/deps"``);
        workers stopped by an interrupt are there, ``interrupted`` with their
        text so far. ``TaskResult.name`` is the full path (``"lead/security"``).
    :ivar waves: each ``spawn_agents`` call that ran, in order.
    :ivar interrupt_reason: why the tree was stopped, or ``None``.
    """

    lead: TaskResult
    workers: dict[str, TaskResult] = field(default_factory=dict)
    waves: list[Wave] = field(default_factory=list)
    interrupt_reason: str | None = None

    @property
    def text(self) -> str:
        """The lead's answer."""
        return self.lead.text

    @property
    def status(self) -> str:
        """The lead's status: ``completed``, ``interrupted``, ``failed`` (or ``cancelled``)."""
        return self.lead.status

    @property
    def ok(self) -> bool:
        """True when the lead completed."""
        return self.lead.ok

    @property
    def results(self) -> list[TaskResult]:
        """The lead's result, then every worker's."""
        return [self.lead, *self.workers.values()]

    @property
    def usage(self) -> Usage:
        """Tokens of the lead and every worker, summed."""
        total = Usage()
        for result in self.results:
            total = total + result.usage
        return total

    @property
    def cost_usd(self) -> float | None:
        """What the lead and every worker cost together (``None`` when no task had a cost)."""
        costs = [result.cost_usd for result in self.results if result.cost_usd is not None]
        return math.fsum(costs) if costs else None


class _TreeWatch:
    """The orchestration's own plugin on each of its runs: keeps the live runs and results, spreads a stop.

    Registered after the caller's plugins, so pluggy calls it before them: a
    run a policy stopped stops the tree, for that policy's reason, before any
    other plugin hears of the first task it ended.
    """

    def __init__(self, tree: TaskTree, workers: dict[str, TaskResult | None]) -> None:
        self.tree = tree
        self.workers = workers
        self._run_of: dict[Task, Run] = {}
        self.agents: dict[str, Task] = {}  # every task of the tree by path, so a wave finds its spawner

    @hookimpl
    def mac_run_started(self, run):
        self.tree._runs.append(run)
        for task in run.tasks:
            self._run_of[task] = run
            self.agents[task.name] = task
        if self.tree.stopping:  # started as the stop came: its token will stop it too, say why now
            run.interrupt(self.tree.interrupt_reason)

    @hookimpl
    def mac_task_finished(self, task, result):
        key = _worker_key(task.name)
        if key in self.workers:
            self.workers[key] = result
        run = self._run_of.pop(task, None)
        if run is not None and run.interrupt_reason is not None:  # a policy stopped this run: the tree stops
            self.tree.interrupt(run.interrupt_reason)
        elif (
            task.name == LEAD and result.interrupt_reason is not None
        ):  # the lead alone was stopped: so is all
            self.tree.interrupt(result.interrupt_reason)

    @hookimpl
    def mac_run_finished(self, run):
        if run in self.tree._runs:
            self.tree._runs.remove(run)
        if run.interrupt_reason is not None:
            self.tree.interrupt(run.interrupt_reason)


def _worker_key(path: str) -> str:
    return path[len(LEAD) + 1 :] if path.startswith(LEAD + "/") else path


class _Orchestrator:
    """One orchestration in progress: its limits, its tree, and the spawn tool of each agent."""

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        worker_model: str,
        max_workers: int,
        max_waves: int,
        max_depth: int,
        max_tokens: int,
        transport: str,
        max_concurrency: int,
        worker_system: Any,
        worker_options: dict[str, Any],
        plugins: list[object],
    ) -> None:
        self.coordinator = coordinator
        self.worker_model = worker_model
        self.max_workers = max_workers
        self.max_waves = max_waves
        self.max_depth = max_depth
        self.max_tokens = max_tokens
        self.transport = transport
        self.max_concurrency = max_concurrency
        self.worker_system = worker_system
        self.worker_options = worker_options
        self.tree = TaskTree()
        self.workers: dict[str, TaskResult | None] = {}
        self.waves: list[Wave] = []
        self._watch = _TreeWatch(self.tree, self.workers)
        self.plugins = [*plugins, self._watch]

    def spawn_tool(self, agent: str) -> Tool:
        """A ``spawn_agents`` tool for the agent at path ``agent``; it counts that agent's waves."""
        used: list[int] = []  # one entry per wave this agent ran

        async def spawn_agents(tasks: list[WorkerTask]) -> dict[str, dict[str, Any]]:
            checked = self._checked(agent, tasks, len(used))
            used.append(1)
            return await self._run_wave(agent, len(used), checked)

        description = (
            f"Run worker agents at the same time, one per task, and get back each one's answer by name. "
            f"At most {self.max_workers} tasks a call and {self.max_waves} calls in all; each name is unique "
            f"in the whole orchestration (letters, digits, '_', '-', '.', spaces; no '/'), and each prompt "
            f"says everything its worker needs: workers do not see this conversation."
        )
        return Tool(spawn_agents, name=SPAWN_AGENTS, description=description)

    def _checked(self, agent: str, tasks: list[WorkerTask], waves_used: int) -> list[WorkerTask]:
        """``tasks`` if they fit the limits; else :class:`ToolInputError`, which the agent reads as its result."""
        if waves_used >= self.max_waves:
            raise ToolInputError(
                f"no waves left: all {self.max_waves} spawn_agents calls are used; answer with what the workers found"
            )
        if not tasks:
            raise ToolInputError('tasks is empty: give at least one {"name", "prompt"}')
        if len(tasks) > self.max_workers:
            left = self.max_waves - waves_used
            raise ToolInputError(
                f"{len(tasks)} tasks asked for, but one call runs at most {self.max_workers}: give the most "
                f"important {self.max_workers}, or split them over calls ({left} left); nothing was run"
            )
        seen: set[str] = set()
        for index, task in enumerate(tasks):
            name, prompt = task["name"].strip(), task["prompt"]
            problem = None
            if not name:
                problem = "name is empty"
            elif len(name) > MAX_NAME_CHARS or "/" in name or not name.isprintable():
                problem = f"name {name!r} must be at most {MAX_NAME_CHARS} printable characters, without '/'"
            elif name in seen:
                problem = f"name {name!r} is given twice in this call"
            elif _worker_key(f"{agent}/{name}") in self.workers:
                problem = f"name {name!r} was used by an earlier worker; pick a new one"
            elif not prompt.strip():
                problem = f"the prompt of {name!r} is empty"
            if problem is not None:
                raise ToolInputError(f"tasks[{index}]: {problem}; nothing was run")
            seen.add(name)
        return [{"name": task["name"].strip(), "prompt": task["prompt"]} for task in tasks]

    def worker_prompt(self, agent: str, task: WorkerTask) -> dict[str, Any]:
        """The prompt dict of one worker: its path as name, and its own spawn tool if it may spawn."""
        path = f"{agent}/{task['name']}"
        prompt: dict[str, Any] = {"prompt": task["prompt"], "name": path}
        if path.count("/") < self.max_depth:
            prompt["tools"] = [*(self.worker_options.get("tools") or ()), self.spawn_tool(path)]
            prompt["max_tool_rounds"] = lead_tool_rounds(self.max_waves)
        return prompt

    async def _run_wave(self, agent: str, number: int, tasks: list[WorkerTask]) -> dict[str, dict[str, Any]]:
        if self.tree.stopping:
            raise ToolInputError(f"not run: the orchestration is stopping ({self.tree.interrupt_reason})")
        prompts = [self.worker_prompt(agent, task) for task in tasks]
        keys = [_worker_key(prompt["name"]) for prompt in prompts]
        for key in keys:
            self.workers[key] = None  # reserved in spawn order; the tree's watch fills in each result
        self.waves.append(Wave(agent=agent, number=number, names=[task["name"] for task in tasks]))
        stop = InterruptToken()  # the tree's stop, or the spawning agent's own
        unwatch = self.tree.token.watch(stop.interrupt)
        results: list[TaskResult] = []
        ended = anyio.Event()

        async def run_wave() -> None:
            with anyio.CancelScope(shield=True):  # a stop of the spawner reaches the wave as an interrupt
                try:
                    results.extend(
                        await self.coordinator.arun(
                            prompts,
                            transport=self.transport,
                            max_concurrency=self.max_concurrency,
                            interrupt_token=stop,
                            model=self.worker_model,
                            max_tokens=self.max_tokens,
                            system=self.worker_system,
                            plugins=self.plugins,
                            **self.worker_options,
                        )
                    )
                finally:
                    ended.set()

        try:
            if self.tree.stopping:  # stopped between the check above and now: the wave starts stopped
                stop.interrupt(self.tree.interrupt_reason or "interrupted")
            async with anyio.create_task_group() as group:
                group.start_soon(run_wave)
                try:
                    await ended.wait()
                except anyio.get_cancelled_exc_class():
                    # the spawner was stopped (a task-scoped policy, or its caller): its workers stop for
                    # that reason with their text kept, instead of "run cancelled"
                    spawner = self.agent_task(agent)
                    reason = (spawner.interrupt_reason if spawner is not None else None) or (
                        self.tree.interrupt_reason or "interrupted"
                    )
                    stop.interrupt(reason)
                    with anyio.CancelScope(shield=True):
                        await ended.wait()
                    raise
        finally:
            unwatch()
        return {task["name"]: _answer(result) for task, result in zip(tasks, results, strict=True)}

    def agent_task(self, path: str) -> Task | None:
        """The task of the agent at ``path`` (the lead, or a worker that spawns)."""
        return self._watch.agents.get(path)


def _answer(result: TaskResult) -> dict[str, Any]:
    """What the spawning agent reads of one worker's result."""
    answer: dict[str, Any] = {"status": result.status, "text": result.text}
    if result.status == "failed":
        answer["error"] = result.error
    elif result.interrupt_reason is not None:
        answer["interrupt_reason"] = result.interrupt_reason
    return answer


def lead_tool_rounds(max_waves: int) -> int:
    """The tool rounds a spawning agent gets: every wave, one refused call per wave, and one more."""
    return 2 * max_waves + 1


async def run_orchestration(
    coordinator: Coordinator,
    goal: str,
    *,
    model: str | None = None,
    worker_model: str | None = None,
    max_workers: int = 5,
    max_waves: int = 3,
    max_depth: int = 1,
    system: Any = None,
    worker_system: Any = None,
    max_tokens: int | None = None,
    transport: str = "stream",
    max_concurrency: int | None = None,
    interrupt_token: InterruptToken | None = None,
    plugins: Iterable[object] | None = None,
    worker_options: Mapping[str, Any] | None = None,
) -> Orchestration:
    """Give a lead model ``spawn_agents`` and run the waves of workers it asks for, until it answers.

    :param goal: the lead's prompt.
    :param model: the lead's model (else the coordinator's default).
    :param worker_model: the workers' model (else ``model``).
    :param max_workers: the most tasks one ``spawn_agents`` call may run.
    :param max_waves: the most ``spawn_agents`` calls each spawning agent may make.
    :param max_depth: how deep the tree may grow: with ``1`` (the default)
        only the lead spawns; with ``2`` its workers may spawn too, and so on.
    :param system: the lead's system prompt (default :data:`LEAD_SYSTEM`).
    :param worker_system: a system prompt for every worker.
    :param max_tokens: per request, lead and workers (else the coordinator's).
    :param transport: a transport that calls the Messages API (``stream``, ``messages``, ``batch``).
    :param max_concurrency: requests of one wave in flight at once (default ``max_workers``).
    :param interrupt_token: stops the lead and every worker in flight.
    :param plugins: plugins for every run of the orchestration, on top of the coordinator's.
    :param worker_options: request options for every worker (``thinking``,
        ``temperature``, ``tools``, ``output``...), as ``Coordinator.run`` takes them.
    :return: an :class:`Orchestration`; the lead's status says how it ended
        (a stop or a failure is a result, not an exception).
    :raises TypeError, ValueError: bad arguments, before any request is sent.
    """
    if not isinstance(goal, str):
        raise TypeError(f"goal must be a string, not {type(goal).__name__}")
    if not goal.strip():
        raise ValueError("goal is empty")
    check_encodable(goal, "goal")
    lead_model = check_model(model, "model") if model is not None else (coordinator.model or _default_model())
    worker_model = check_model(worker_model, "worker_model") if worker_model is not None else lead_model
    for value, name in ((max_workers, "max_workers"), (max_waves, "max_waves"), (max_depth, "max_depth")):
        check_positive_int(value, name)
    max_concurrency = (
        check_positive_int(max_concurrency, "max_concurrency") if max_concurrency is not None else max_workers
    )
    max_tokens = (
        check_max_tokens(max_tokens, "max_tokens") if max_tokens is not None else coordinator.max_tokens
    )
    if interrupt_token is not None and not isinstance(interrupt_token, InterruptToken):
        raise TypeError(f"interrupt_token must be an InterruptToken, not {type(interrupt_token).__name__}")
    if worker_options is not None and not isinstance(worker_options, Mapping):
        raise TypeError(
            f"worker_options must be a dict of request options, not {type(worker_options).__name__}"
        )
    if isinstance(plugins, (str, bytes)):
        raise TypeError("plugins must be a list of plugins, not a string")
    entry = coordinator.transports.get(transport) if isinstance(transport, str) else None
    if entry is not None and "tools" not in entry.transport.task_options:
        raise ValueError(
            f"orchestrate needs a transport that sends tools to the Messages API; {transport!r} does not"
        )
    orchestrator = _Orchestrator(
        coordinator,
        worker_model=worker_model,
        max_workers=max_workers,
        max_waves=max_waves,
        max_depth=max_depth,
        max_tokens=max_tokens,
        transport=transport,
        max_concurrency=max_concurrency,
        worker_system=worker_system,
        worker_options=dict(worker_options or {}),
        plugins=list(plugins or ()),
    )
    if entry is not None:  # a worker's options are refused now, not when the lead first spawns
        sample = orchestrator.worker_prompt(LEAD, {"name": "check", "prompt": "check"})
        build_tasks(
            [sample],
            model=worker_model,
            max_tokens=max_tokens,
            task_options=entry.transport.task_options,
            options=orchestrator.worker_options,
        )
    lead_prompt = {
        "prompt": goal,
        "name": LEAD,
        "tools": [orchestrator.spawn_tool(LEAD)],
        "max_tool_rounds": lead_tool_rounds(max_waves),
    }
    tree = orchestrator.tree
    unwatch = None
    with active(tree):
        try:
            if interrupt_token is not None:
                if interrupt_token.is_interrupted():
                    tree.interrupt(interrupt_token.reason or "interrupted")
                else:
                    unwatch = interrupt_token.watch(tree.interrupt)
            (lead,) = await coordinator.arun(
                [lead_prompt],
                transport=transport,
                max_concurrency=1,
                interrupt_token=tree.token,
                model=lead_model,
                max_tokens=max_tokens,
                system=system if system is not None else LEAD_SYSTEM,
                plugins=orchestrator.plugins,
            )
        finally:
            if unwatch is not None:
                unwatch()
    workers = {key: result for key, result in orchestrator.workers.items() if result is not None}
    return Orchestration(
        lead=lead, workers=workers, waves=orchestrator.waves, interrupt_reason=tree.interrupt_reason
    )


def _default_model() -> str:
    from .coordinator import default_model

    return default_model()


__all__ = [
    "LEAD",
    "LEAD_SYSTEM",
    "SPAWN_AGENTS",
    "Orchestration",
    "TaskTree",
    "Wave",
    "WorkerTask",
    "counting_scope",
    "run_orchestration",
    "task_tree",
]
