"""The run-control options every ``mac`` command that runs tasks shares.

::

    @cli.command("run")
    @run_control_options
    def run_command(..., **control):
        coordinator = Coordinator(plugins=plugins_from_options(**control))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from mac_plugins.reporters import REPORTERS, JsonlEventLog, choose_reporter

from .budget import CostBudget, TokenBudget
from .clock import Deadline
from .text import StopOnPattern

F = TypeVar("F", bound=Callable[..., Any])


def _regex(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not value:
        raise click.BadParameter("an empty pattern would match everything; give a keyword or a regex")
    try:
        re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"{value!r} is not a valid regular expression: {exc}") from None
    return value


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def _events_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"the folder {str(value.parent)!r} does not exist")
    return value


def run_control_options(command: F) -> F:
    """Add ``--stop-on``, ``--budget-tokens``, ``--budget-usd``, ``--deadline``, ``--events`` and ``--reporter``.

    The command receives them as keyword arguments of the same names (with
    underscores); pass them on to :func:`plugins_from_options`.
    """
    options = (
        click.option(
            "--stop-on",
            metavar="REGEX",
            callback=_regex,
            help="Stop the run when any agent writes text matching REGEX (e.g. CRITICAL).",
        ),
        click.option(
            "--budget-tokens",
            metavar="N",
            type=click.IntRange(min=1),
            help="Stop the run once its tasks have generated N output tokens in all.",
        ),
        click.option(
            "--budget-usd",
            metavar="X",
            type=click.FloatRange(min=0, min_open=True),
            callback=_finite,
            help="Stop the run once its tokens cost X US dollars (list prices, no batch discount).",
        ),
        click.option(
            "--deadline",
            metavar="S",
            type=click.FloatRange(min=0, min_open=True),
            callback=_finite,
            help="Stop the run S seconds after it started.",
        ),
        click.option(
            "--events",
            metavar="FILE",
            callback=_events_file,
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="Append every event of the run to FILE as JSON lines (replay with: mac replay FILE).",
        ),
        click.option(
            "--reporter",
            type=click.Choice(REPORTERS),
            default="auto",
            show_default=True,
            help="Progress on stderr: rich (live table), plain (prefixed lines), none; auto = rich on a terminal.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def plugins_from_options(
    stop_on: str | None = None,
    budget_tokens: int | None = None,
    budget_usd: float | None = None,
    deadline: float | None = None,
    events: str | Path | None = None,
    reporter: str = "auto",
    batch: bool = False,
) -> list[object]:
    """The policy and reporter objects the options ask for, for ``Coordinator(plugins=...)``.

    Every policy stops the whole run; ``batch`` prices the cost budget at the batch discount. Raises ``ValueError`` on a bad value
    (the click options have already checked them).
    """
    plugins: list[object] = []
    if stop_on is not None:
        plugins.append(StopOnPattern(stop_on))
    if budget_tokens is not None:
        plugins.append(TokenBudget(budget_tokens))
    if budget_usd is not None:
        plugins.append(CostBudget(budget_usd, batch=batch))
    if deadline is not None:
        plugins.append(Deadline(deadline))
    chosen = choose_reporter(reporter)
    if chosen is not None:
        plugins.append(chosen)
    if events is not None:
        plugins.append(JsonlEventLog(events))
    return plugins
