"""Built-in interrupt policies: opt-in plugin objects for ``Coordinator(plugins=[...])``.

::

    from mac_plugins.policies import StopOnPattern, TokenBudget

    Coordinator(plugins=[StopOnPattern("CRITICAL"), TokenBudget(50_000)]).run(prompts)

Each policy's reason is recorded in ``TaskResult.interrupt_reason`` and
``Run.interrupt_reason``. A policy object resets itself at the start of each
run and follows one run at a time: give runs that overlap their own objects.
An orchestration (``Coordinator.orchestrate``) counts as one run: its waves
do not reset a policy, which counts over the lead and every worker. As the installed ``policies`` plugin, this module
activates none of them (a policy that acted on every run unasked would be a
surprise); it adds the ``mac policies`` command, which lists them.
"""

from __future__ import annotations

import click

from mac_core import hookimpl

from .budget import CostBudget, MaxFailures, TokenBudget
from .clock import Deadline, Stall
from .text import Quorum, StopOnPattern

__all__ = ["CostBudget", "Deadline", "MaxFailures", "Quorum", "Stall", "StopOnPattern", "TokenBudget"]

#: (policy, its ``mac`` command-line option or ``None``), in the order ``mac policies`` lists them.
BUILT_IN = (
    (StopOnPattern, "--stop-on REGEX"),
    (TokenBudget, "--budget-tokens N"),
    (CostBudget, "--budget-usd X"),
    (Deadline, "--deadline S"),
    (MaxFailures, None),
    (Quorum, None),
    (Stall, None),
)


@hookimpl
def mac_register_commands(cli):
    @cli.command("policies")
    def policies_command() -> None:
        """List the built-in interrupt policies and the options that turn them on."""
        width = max(len(policy.__name__) for policy, _ in BUILT_IN)
        for policy, option in BUILT_IN:
            summary = (policy.__doc__ or "").strip().splitlines()[0].replace("``", "")
            click.echo(f"{policy.__name__:<{width}}  {summary}" + (f"  [{option}]" if option else ""))
        click.echo(
            "\nUse them from Python: Coordinator(plugins=[StopOnPattern('CRITICAL'), TokenBudget(50_000)])."
        )
        click.echo("Write your own: docs/writing-a-policy.md")
