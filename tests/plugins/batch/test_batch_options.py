"""The ``batch`` transport's options are checked before any batch is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from mac_plugins.batch.options import BatchOptions

from mac_core import Coordinator


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"poll_intervall": 1}, "unknown batch transport option 'poll_intervall' (known: poll_interval, "
                                "max_poll_interval, flush_after, max_batch_wait, cancel_timeout, state_file)"),
        ({"poll_interval": 0}, "the batch transport option 'poll_interval' must be a positive number of seconds, got 0.0"),
        ({"max_poll_interval": -5}, "'max_poll_interval' must be a positive number of seconds, got -5.0"),
        ({"max_batch_wait": 0}, "'max_batch_wait' must be a positive number of seconds"),
        ({"cancel_timeout": 0}, "'cancel_timeout' must be a positive number of seconds"),
        ({"flush_after": -0.1}, "'flush_after' must be a non-negative number of seconds, got -0.1"),
        ({"poll_interval": "1"}, "the batch transport option 'poll_interval' must be a number, not str"),
        ({"state_file": 7}, "the batch transport option 'state_file' must be a string or a PathLike or None, not int"),
        ({"state_file": ""}, "'state_file' must be a path, not an empty string"),
    ],
)
def test_a_bad_or_misspelt_batch_option_is_an_error_before_anything_is_sent(sim, options, message):
    with pytest.raises(ValueError) as refused:
        Coordinator().run(["[[reply: hi]]"], transport="batch", transport_options=options)
    assert message in str(refused.value)
    assert sim.stats.requests == 0 and sim.stats.batches == 0


def test_the_options_mac_run_passes_and_a_path_for_the_state_file_are_accepted(api_key, tmp_path):
    settings = Coordinator().settings("batch", {"state_file": f"{tmp_path}/out.jsonl.batches.json"})
    assert settings.options == BatchOptions(state_file=f"{tmp_path}/out.jsonl.batches.json")
    assert BatchOptions(state_file=tmp_path / "state.json").state_file == tmp_path / "state.json"


def test_a_state_file_given_as_a_path_records_the_batch(sim, tmp_path):
    state = tmp_path / "state.json"
    options = {"poll_interval": 0.05, "max_poll_interval": 0.2, "flush_after": 0.05, "state_file": state}
    (result,) = Coordinator().run(["[[reply: hi]]"], transport="batch", transport_options=options)
    assert result.status == "completed" and result.text == "hi"
    assert result.request_id in Path(state).read_text()
