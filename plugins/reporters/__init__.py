"""Built-in progress reporters: opt-in plugin objects for ``Coordinator(plugins=[...])``.

* :class:`RichReporter`: a live table, one row per agent (for a terminal).
* :class:`PlainReporter`: ``[Security] ...`` per line of text (for logs and pipes).
* :class:`JsonlEventLog`: one JSON line per event, replayable with :func:`replay`.

:func:`choose_reporter` picks the first two by name or by whether the output
is a terminal. A reporter object follows one run at a time. As the installed ``reporters`` plugin, this module turns none
of them on (a library call should not draw on stderr unasked); it adds the
``mac replay`` command, which shows a recorded event log again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from mac_core import hookimpl

from .jsonl import JsonlEventLog, read_runs, replay
from .live import RichReporter
from .plain import PlainReporter

__all__ = ["REPORTERS", "JsonlEventLog", "PlainReporter", "RichReporter", "choose_reporter", "read_runs", "replay"]

REPORTERS = ("auto", "rich", "plain", "none")


def choose_reporter(name: str = "auto", stream: IO[str] | None = None) -> RichReporter | PlainReporter | None:
    """The reporter called ``name``: ``"rich"``, ``"plain"``, ``"none"`` (``None``), or
    ``"auto"``: rich when ``stream`` is a terminal, plain otherwise.

    :param stream: where it writes (default ``sys.stderr``).
    """
    if name not in REPORTERS:
        raise ValueError(f"reporter must be one of {', '.join(REPORTERS)}, not {name!r}")
    if name == "auto":
        target = stream if stream is not None else sys.stderr
        try:
            name = "rich" if target.isatty() else "plain"
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            name = "plain"
    if name == "rich":
        return RichReporter(stream)
    if name == "plain":
        return PlainReporter(stream)
    return None


@hookimpl
def mac_register_commands(cli):
    @cli.command("replay")
    @click.argument("events", metavar="EVENTS.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--run", "run_id", metavar="ID", help="Which run of the log (default: the first).")
    @click.option("--reporter", type=click.Choice(["plain", "rich"]), default="plain", show_default=True)
    def replay_command(events: Path, run_id: str | None, reporter: str) -> None:
        """Show a run recorded with --events again, through a reporter (on stdout)."""
        try:
            replay(events, choose_reporter(reporter, sys.stdout), run_id=run_id)
        except (ValueError, KeyError) as exc:
            raise click.ClickException(f"{events} is not a usable event log: {exc}") from None
