"""--stop-on, --budget-tokens, --budget-usd, --deadline, --events, --reporter: checked, then turned into plugins."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from mac_plugins.policies import CostBudget, Deadline, StopOnPattern, TokenBudget
from mac_plugins.policies import mac_register_commands as policies_commands
from mac_plugins.policies.cli import plugins_from_options, run_control_options
from mac_plugins.reporters import JsonlEventLog, PlainReporter
from scripted import HANG, run_scripted


@click.command()
@run_control_options
def fan_out(**control):
    """A command that runs tasks, as `mac demo` and `mac run` do."""
    run_scripted(
        {"security": ["scanning\n", "CRITICAL: eval\n", HANG], "style": ["tabs\n", HANG]},
        plugins=plugins_from_options(**control),
    )


def invoke(*args: str):
    return CliRunner().invoke(fan_out, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stop-on", "("], "is not a valid regular expression"),
        (["--stop-on", ""], "an empty pattern would match everything"),
        (["--budget-tokens", "0"], "--budget-tokens"),
        (["--budget-tokens", "many"], "is not a valid integer"),
        (["--budget-usd", "0"], "--budget-usd"),
        (["--budget-usd", "inf"], "must be a finite number"),
        (["--budget-usd", "nan"], "--budget-usd"),
        (["--deadline", "-5"], "--deadline"),
        (["--events", "/nonexistent-dir/events.jsonl"], "does not exist"),
        (["--reporter", "fancy"], "'fancy' is not one of 'auto', 'rich', 'plain', 'none'"),
    ],
)
def test_bad_values_are_usage_errors_that_name_the_option(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_the_options_stop_the_run_report_it_and_log_it(tmp_path):
    events = tmp_path / "events.jsonl"
    result = invoke("--stop-on", "CRIT[A-Z]+", "--reporter", "plain", "--events", str(events))
    assert result.exit_code == 0, result.output
    assert "[security] CRITICAL: eval" in result.output  # the plain reporter writes on stderr, mixed in here
    assert (
        "-- run stopped: security wrote 'CRITICAL', which matches the stop pattern 'CRIT[A-Z]+'"
        in result.output
    )
    kinds = [json.loads(line)["kind"] for line in events.read_text().splitlines()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"


def test_each_option_becomes_its_plugin_and_none_adds_nothing():
    plugins = plugins_from_options(
        stop_on="CRITICAL",
        budget_tokens=100,
        budget_usd=2.5,
        deadline=30,
        events="events.jsonl",
        reporter="plain",
    )
    assert [type(p) for p in plugins] == [
        StopOnPattern,
        TokenBudget,
        CostBudget,
        Deadline,
        PlainReporter,
        JsonlEventLog,
    ]
    assert [plugins[1].limit, plugins[2].limit, plugins[3].seconds] == [100, 2.5, 30]
    assert all(p.scope == "run" for p in plugins[:4])
    assert plugins_from_options(reporter="none") == []


def test_mac_policies_lists_the_policies_and_their_options():
    cli = click.Group()
    policies_commands(cli=cli)
    result = CliRunner().invoke(cli, ["policies"])
    assert result.exit_code == 0
    for expected in (
        "StopOnPattern",
        "[--stop-on REGEX]",
        "TokenBudget",
        "[--budget-tokens N]",
        "CostBudget",
        "Deadline",
        "MaxFailures",
        "Quorum",
        "Stall",
        "docs/writing-a-policy.md",
    ):
        assert expected in result.output
