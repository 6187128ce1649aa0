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
from typing import IO, TYPE_CHECKING, Any

import click

from mac_core import hookimpl

from .jsonl import JsonlEventLog, read_runs, replay
from .plain import PlainReporter

if TYPE_CHECKING:
    from .live import RichReporter

__all__ = ["REPORTERS", "JsonlEventLog", "PlainReporter", "RichReporter", "choose_reporter", "read_runs", "replay"]

REPORTERS = ("auto", "rich", "plain", "none")


def __getattr__(name: str) -> Any:
    # rich is imported with the live view, when one is asked for: not by `mac` at start.
    if name == "RichReporter":
        from .live import RichReporter

        return RichReporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        from .live import RichReporter

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
        lines = _replayable_lines(events, run_id)
        replay(lines, choose_reporter(reporter, sys.stdout), run_id=run_id)


def _replayable_lines(events: Path, run_id: str | None) -> list[str]:
    """The lines of the log ``events`` once a dry run has replayed them; else a usage error saying what is wrong.

    The dry run (no reporters) refuses a malformed log before anything is shown.
    """

    def refuse(problem: str, option: str = "EVENTS.jsonl") -> click.BadParameter:
        return click.BadParameter(problem, param_hint=option)

    try:
        lines = events.read_text(encoding="utf-8").splitlines()
    except OSError as exc:  # /proc/self/mem, a FIFO gone away: the file given cannot be read
        raise refuse(f"cannot read {str(events)!r}: {exc.strerror}") from None
    except ValueError as exc:  # not UTF-8
        raise refuse(f"{str(events)!r} is not an event log written by --events ({exc})") from None
    try:
        runs = read_runs(lines)
        if run_id is not None and run_id not in runs:
            raise refuse(f"{str(events)!r} has no run {run_id!r} (it has {', '.join(runs) or 'none'})", "'--run'")
        replay(lines, run_id=run_id)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise refuse(f"{str(events)!r} is not an event log written by --events ({_problem(exc)})") from None
    return lines


def _problem(exc: BaseException) -> str:
    """What is wrong with a log, in a few words: a missing field by name, not JSON, or a misshapen record."""
    if isinstance(exc, KeyError):
        return f"a record has no {exc.args[0]!r}" if exc.args else "a record lacks a field"
    if isinstance(exc, ValueError):  # not JSON, no run, not starting with run_started: its own words say it
        return str(exc)
    return f"a record is malformed: {exc}"
