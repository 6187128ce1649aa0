"""Policies that count: :class:`TokenBudget`, :class:`CostBudget` and :class:`MaxFailures`."""

from __future__ import annotations

from mac_core import Interrupt, hookimpl
from mac_core.events import TEXT, THINKING, TOOL_RESULT, TOOL_USE, USAGE
from mac_core.pricing import price_for

from .base import (
    CHARS_PER_TOKEN,
    Following,
    OutputMeter,
    RunningTotal,
    check_positive,
    check_scope,
    shorten,
    stop_run_if_work_left,
)

#: The events that mean more output was generated: a budget trips on these, never on a usage report,
#: so a task is not cut off at the report that closes its (already generated) answer.
GENERATION = frozenset({TEXT, THINKING, TOOL_USE})


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


class _Budget:
    """A limit on a quantity measured per task from its usage and streamed text.

    With ``scope="run"`` the quantity is summed over the run's tasks and
    reaching the limit stops the run; with ``scope="task"`` each task has
    the whole limit to itself and only it is stopped. The limit trips on the
    first text, thinking or tool-use event at which it is reached, counting
    text not yet reported as estimated (see :class:`~.base.OutputMeter`).
    Usage reports only correct the count: an answer whose final report
    reaches the limit completes, and the run stops as that task ends. A
    report that reaches it after the model asked for tools stops at once, so
    the tools (an orchestration's next wave) do not run and no request is
    sent over the budget.

    In an orchestration (``Coordinator.orchestrate``) "the run" is the whole
    tree: the lead's run and every wave's count together, and reaching the
    limit stops the lead and every worker (:func:`mac_core.task_tree.counting_scope`).
    """

    quantity = ""

    def __init__(self, limit: float, *, scope: str, chars_per_token: float) -> None:
        self.limit = limit
        self.scope = check_scope(scope)
        self._meter = OutputMeter(chars_per_token)
        self._total = RunningTotal()
        self._following = Following()  # what the count is over: the run, or the orchestration's tree
        self._calling: set = set()  # tasks whose latest output is a tool call: more requests will follow

    def measure(self, task, reported_cost: float | None = None) -> float:
        """The quantity ``task`` has used so far (``reported_cost``: the far side's figure, when it gave one)."""
        raise NotImplementedError

    def describe(self, amount: float) -> str:
        """``amount`` for a reason."""
        raise NotImplementedError

    def _reason(self, who: str, amount: float, estimated: bool) -> str:
        about = "about " if estimated else ""
        return (
            f"{who} reached its {self.quantity} budget: {about}{self.describe(amount)} used "
            f"of {self.describe(self.limit)} allowed"
        )

    @hookimpl
    def mac_run_started(self, run):
        if self._following.enter(run):  # a wave of the same orchestration keeps counting
            self._meter.clear()
            self._total.clear()
            self._calling.clear()

    @hookimpl
    def mac_should_interrupt(self, task, event):
        if self._meter.observe(task, event) and self.scope == "run":
            self._total.set(task, self.measure(task))
        kind = event.type
        if kind == TOOL_USE and (event.data or {}).get("name") in (task.tool_functions or ()):
            self._calling.add(task)  # a call this loop runs: its tools, then another request, follow
        elif kind in (TEXT, THINKING, TOOL_RESULT):
            self._calling.discard(task)
        if kind not in GENERATION and not (kind == USAGE and task in self._calling):
            return None  # a usage report only settles the count, unless the tools it closes are still to run
        if self.scope == "task":
            used = self.measure(task)
            if used >= self.limit:
                return Interrupt(
                    reason=self._reason(task.name, used, self._meter.estimated(task) > 0), scope="task"
                )
        elif self._total.total >= self.limit:
            return Interrupt(
                reason=self._reason(self._following.whole(), self._total.total, self._meter.any_estimated()),
                scope="run",
            )
        return None

    @hookimpl
    def mac_task_finished(self, task, result):
        self._calling.discard(task)
        self._meter.settle(task, result.usage, complete=result.status == "completed")
        if self.scope == "run":
            total = self._total.set(task, self.measure(task, result.cost_usd))
            if total >= self.limit:
                whole = self._following.whole()
                stop_run_if_work_left(
                    self._following.current, self._reason(whole, total, self._meter.any_estimated())
                )


class TokenBudget(_Budget):
    """Stop once a number of output tokens has been generated.

    ``TokenBudget(20_000)`` stops the run when its tasks together have
    generated 20,000 output tokens; ``TokenBudget(2_000, scope="task")``
    stops any single task at 2,000.

    Output counts reach a stream late (the Messages API reports them at the
    end of each message), so text streamed since the last report is counted at
    ``chars_per_token`` characters a token (3.5 by default: a slight over-count
    for English, so the budget trips early rather than late) until the exact
    count arrives and replaces the estimate.

    :param max_output_tokens: the budget.
    :param scope: ``"run"`` (summed over tasks, stops the run) or ``"task"`` (per task).
    :param chars_per_token: the estimate's ratio.
    """

    quantity = "output-token"

    def __init__(
        self, max_output_tokens: int, *, scope: str = "run", chars_per_token: float = CHARS_PER_TOKEN
    ) -> None:
        super().__init__(
            int(check_positive(max_output_tokens, "max_output_tokens", integer=True)),
            scope=scope,
            chars_per_token=chars_per_token,
        )

    def measure(self, task, reported_cost=None):
        return self._meter.usage(task).output_tokens

    def describe(self, amount):
        return f"{int(amount):,} tokens"

    def __repr__(self) -> str:
        return f"TokenBudget({self.limit}, scope={self.scope!r})"


class CostBudget(_Budget):
    """Stop once the tokens used cost a number of US dollars.

    Each task is priced on its own model with :func:`mac_core.pricing.cost_usd`
    (input, output, cache writes and cache reads), output still in flight
    estimated as for :class:`TokenBudget`. When the far side reports a task's
    cost itself (agent runs), that figure is used once the task ends.

    :param max_usd: the budget in USD.
    :param scope: ``"run"`` (summed over tasks, stops the run) or ``"task"`` (per task).
    :param batch: price at the Message Batches API's 50 % discount.
    :param chars_per_token: the output estimate's ratio.
    """

    quantity = "cost"

    def __init__(
        self,
        max_usd: float,
        *,
        scope: str = "run",
        batch: bool = False,
        chars_per_token: float = CHARS_PER_TOKEN,
    ) -> None:
        super().__init__(
            float(check_positive(max_usd, "max_usd")), scope=scope, chars_per_token=chars_per_token
        )
        self.batch = batch

    def measure(self, task, reported_cost=None):
        if reported_cost is not None:
            return reported_cost
        return price_for(task.model).cost(self._meter.usage(task), self.batch)

    def describe(self, amount):
        return _money(amount)

    def __repr__(self) -> str:
        return f"CostBudget({self.limit}, scope={self.scope!r}, batch={self.batch})"


class MaxFailures:
    """Stop the run after ``n`` tasks have failed (the API is down, the key is wrong…).

    Tasks that are stopped or cancelled do not count; only ``failed`` ones do.
    The run always stops as a whole: the tasks running are interrupted and
    no new one starts. In an orchestration, failures count over the lead and
    every worker, and the whole tree stops.

    :param n: how many failures to tolerate before stopping (``1``: stop at the first).
    """

    def __init__(self, n: int) -> None:
        self.n = int(check_positive(n, "n", integer=True))
        self._failed = 0
        self._following = Following()

    @hookimpl
    def mac_run_started(self, run):
        if self._following.enter(run):
            self._failed = 0

    @hookimpl
    def mac_task_finished(self, task, result):
        if result.status != "failed":
            return
        self._failed += 1
        if self._failed >= self.n:
            tasks = "task" if self._failed == 1 else "tasks"
            stop_run_if_work_left(
                self._following.current,
                f"{self._failed} {tasks} failed, reaching the limit of {self.n} "
                f"(the last, {task.name}: {shorten(result.error or 'unknown error', 120)})",
            )

    def __repr__(self) -> str:
        return f"MaxFailures({self.n})"
