"""The ``mac`` command line. Plugins add subcommands through ``mac_register_commands``.

Conventions for every command: data on stdout, talk on stderr; exit 0 on
success, 1 on failure, 2 on bad usage, 130 on Ctrl-C. A second Ctrl-C while a
run is still stopping (a plugin's hook holds it) exits 130 at once
(:mod:`mac_core.bridge`). A user's mistake (a bad option, a missing file, no
API key, a port in use) is one line on stderr, never a traceback.

Starting is cheap: ``mac --help`` imports no SDK, server or terminal library.
A plugin's ``mac_register_commands`` only declares its commands; a command's
body imports what it needs, and a command whose options need heavy imports
is registered as a :class:`LazyCommand`.
"""

from __future__ import annotations

import errno
import gc
import importlib
import json
import logging
import re
import socket
import sys
from typing import Any

import click

from . import __version__
from .credentials import MalformedSecretError, MissingAPIKeyError
from .plugins import describe_plugins, plugin_manager

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: ``mac`` alone: click shows the help (on stderr, exit 2), which is no error to squeeze on one line.
_HELP_FOR_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mac")
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Coordinate many Claude agents at once."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins and what each provides."""
    rows = describe_plugins(plugin_manager())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows) if rows else 0
    for row in rows:
        provides = "; ".join(row["provides"]) or "hooks: " + ", ".join(row["hooks"])
        dist = f"  [{row['distribution']}]" if row["distribution"] else ""
        click.echo(f"{row['name']:<{width}}  {provides}{dist}")
        if row["summary"]:  # a docstring's reST ``literal`` reads as `literal` in a terminal
            click.echo(f"{'':<{width}}  {row['summary'].replace('``', '`')}")


class LazyCommand(click.Command):
    """A command listed at once by name and summary, whose module is imported only when it is used.

    ``mac --help`` lists every command, so each plugin's commands are built at
    start; one whose options need heavy imports to build (a settings class
    that pulls in a server) registers this placeholder instead::

        cli.add_command(LazyCommand("sim", "mac_plugins.simulator.cli:sim_command",
                                    summary="Serve a simulated Anthropic API."))

    Parsing its arguments (``mac sim --port 0``, ``mac sim --help``, shell
    completion) imports ``target`` (``"module:attribute"``) and hands over to
    the real command.
    """

    def __init__(self, name: str, target: str, *, summary: str) -> None:
        super().__init__(name, help=summary)
        self.target = target
        self._command: click.Command | None = None

    def load(self) -> click.Command:
        """The real command (imported on the first call)."""
        if self._command is None:
            module, _, attribute = self.target.partition(":")
            self._command = getattr(importlib.import_module(module), attribute)
        return self._command

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """The real command's context: from here on click talks to the real command."""
        return self.load().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the real command."""
        return self.load().invoke(ctx)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """The real command's parameters."""
        return self.load().get_params(ctx)


def check_can_listen(host: str, port: int) -> None:
    """Refuse, as a usage error naming the option, a ``host:port`` a server could not listen on.

    Binds (and closes) a socket as uvicorn will, so a port in use or a host
    that is not this machine's is one line on stderr before anything starts,
    not a server's log line and exit 3. Port 0 (any free one) is not checked.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a TIME_WAIT port is free
            probe.bind((host, port))
    except socket.gaierror as exc:
        raise click.BadParameter(f"cannot resolve {host!r}: {exc.strerror}", param_hint="'--host'") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.BadParameter(
                f"port {port} on {host} is in use: pick another, or --port 0 for any free one",
                param_hint="'--port'",
            ) from None
        if exc.errno == errno.EACCES:
            raise click.BadParameter(
                f"port {port} needs privileges to listen on: pick one above 1023, or --port 0",
                param_hint="'--port'",
            ) from None
        raise click.BadParameter(f"cannot listen on {host}: {exc.strerror}", param_hint="'--host'") from None


def _one_line(text: str) -> str:
    """``text`` on one printable line: line breaks become spaces, other control characters escapes."""
    text = re.sub(r"\s*[\r\n]+\s*", " ", text.strip())
    # repr's escapes also cover a lone surrogate (an undecodable byte of a path), which stderr could not encode.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _say(line: str) -> None:
    click.echo(_one_line(line), err=True)


def _usage_line(exc: click.UsageError) -> str:
    """A usage error as one line: the command, what is wrong, where the help is."""
    command = exc.ctx.command_path if exc.ctx is not None else "mac"
    return f"{command}: {exc.format_message().rstrip('.')} (see {command} --help)"


def _add_plugin_commands() -> None:
    pm = plugin_manager()
    for impl in reversed(pm.hook.mac_register_commands.get_hookimpls()):
        try:
            impl.function(cli=cli)
        except Exception:
            logging.getLogger("mac_core.cli").exception("plugin %s failed to add commands", impl.plugin_name)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mac`` console script."""
    _add_plugin_commands()
    # Everything imported so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise rescan it while a wide fan-out allocates.
    gc.freeze()
    try:
        code = cli.main(args=argv, prog_name="mac", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except _HELP_FOR_NO_ARGS as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:  # click would print the usage, a hint and the error: one line says it
        _say(_usage_line(exc))
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        _say(f"Error: {exc.format_message()}")
        sys.exit(exc.exit_code)
    except (MissingAPIKeyError, MalformedSecretError) as exc:  # a setup problem, not a crash: one clear line
        _say(f"mac: {exc}")
        sys.exit(EXIT_USAGE)
    except OSError as exc:  # the machine said no (a full disk, a permission): the user's to fix, not a crash
        _say(f"mac: {exc}")
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)
