"""``mac demo``: the hybrid analysis → interrupt → delegation workflow, end to end, offline by default."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mac_core import hookimpl

from .scenario import BUNDLED_SAMPLE

#: The demo's default stop: a CRITICAL finding, once its sentence is complete (so the finding is kept whole).
CRITICAL_SENTENCE = r"CRITICAL[^.\n]*[.\n]"


@hookimpl
def mac_register_commands(cli):
    from mac_plugins.policies.cli import plugins_from_options, run_control_options

    @cli.command("demo")
    @click.option("--sample", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=BUNDLED_SAMPLE,
                  help="The file to review (default: a bundled sample with a planted flaw).")
    @click.option("--analysts", type=click.IntRange(3, 5), default=3, show_default=True,
                  help="How many analysts review it in parallel.")
    @click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=Path("mac-demo-workspace"),
                  show_default=True, help="Where the agent fixes a copy of the sample.")
    @click.option("--agent-url", metavar="URL", help="Delegate to this agent server instead of starting one.")
    @click.option("--agent-token", metavar="TOKEN", envvar="MAC_AGENT_TOKEN", help="Its bearer token (or MAC_AGENT_TOKEN).")
    @run_control_options
    def demo_command(sample, analysts, workspace, agent_url, agent_token, **control):
        """Analysts stream a review in parallel; a CRITICAL finding stops them; an agent fixes the file.

        By default the run stops once an analyst has written a whole sentence
        starting with CRITICAL (--stop-on changes it). Without ANTHROPIC_API_KEY the model is the embedded simulator (and the
        demo says so); the agent is the real Claude Agent SDK runtime when the
        'agent' extra is installed. Exit 0 when the flaw was fixed.
        """
        # rich and the run's machinery are imported when the demo runs, not by `mac` at start.
        from rich.console import Console

        from .runner import DemoOptions, run_demo

        if control.get("stop_on") is None:
            control["stop_on"] = CRITICAL_SENTENCE
        options = DemoOptions(
            sample=sample,
            analysts=analysts,
            workspace=workspace,
            agent_url=agent_url,
            agent_token=agent_token,
            plugins=plugins_from_options(**control),
        )
        sys.exit(run_demo(options, Console(stderr=True)))
