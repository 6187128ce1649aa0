"""``mac sim`` is listed by ``mac --help`` without building it, and behaves as itself once used."""

from __future__ import annotations

import pytest
from mac_plugins.simulator import SIM_SUMMARY
from mac_plugins.simulator.cli import sim_command

from mac_core.cli import main


def test_the_summary_mac_help_lists_is_the_first_paragraph_of_the_commands_own_help():
    first_paragraph = " ".join(sim_command.help.split("\n\n")[0].split())
    assert SIM_SUMMARY == first_paragraph


def test_mac_help_lists_sim_with_its_summary(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    listed = capsys.readouterr().out
    assert "  sim  " in listed and "Serve a simulated Anthropic API" in listed


def test_mac_sim_help_shows_the_real_commands_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["sim", "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("Usage: mac sim [OPTIONS]")
    for option in ("--port", "--tokens", "--fault-rate", "--agent-workspace", "docs/simulator.md"):
        assert option in help_text
