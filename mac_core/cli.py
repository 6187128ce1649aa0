"""The ``mac`` command line. Plugins add subcommands through ``mac_register_commands``.

Conventions for every command: data on stdout, talk on stderr; exit 0 on
success, 1 on failure, 2 on bad usage, 130 on Ctrl-C. A second Ctrl-C while a
run is still stopping (a plugin's hook holds it) exits 130 at once
(:mod:`mac_core.bridge`).
"""

from __future__ import annotations

import gc
import json
import logging
import sys

import click

from . import __version__
from .credentials import MalformedSecretError, MissingAPIKeyError
from .plugins import describe_plugins, plugin_manager

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
        if row["summary"]:
            click.echo(f"{'':<{width}}  {row['summary']}")


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
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (MissingAPIKeyError, MalformedSecretError) as exc:  # a setup problem, not a crash: one clear line
        click.echo(f"mac: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)
