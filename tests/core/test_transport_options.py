"""A transport's options are a typed dataclass the core checks before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from mac_plugins.simulator import Simulator

from mac_core import ClientSettings, Completion, Coordinator, Event, Secret, Transport, hookimpl


@dataclass(frozen=True)
class EchoOptions:
    """A third party's options: one required, some typed, one range-checked, one secret."""

    prefix: str
    repeat: int = 1
    pause: float = 0.0
    loud: bool = False
    token: Secret | None = None

    def __post_init__(self):
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")


class EchoTransport(Transport):
    """Echoes each prompt ``repeat`` times after ``prefix``; counts the tasks it was given."""

    name = "echo"
    needs_api_key = False
    options_type = EchoOptions
    tasks_run = 0

    async def run_task(self, task, emit):
        type(self).tasks_run += 1
        options: EchoOptions = self.settings.options
        text = options.prefix + task.prompt * options.repeat
        emit(Event("text", text=text.upper() if options.loud else text))
        return Completion()


class EchoPlugin:
    @hookimpl
    def mac_register_transports(self, register):
        register("echo", EchoTransport)


@pytest.fixture
def coordinator():
    EchoTransport.tasks_run = 0
    return Coordinator(plugins=[EchoPlugin()])


def test_the_transport_reads_its_checked_options_and_the_raw_mapping_stays(coordinator):
    options = {"prefix": "> ", "repeat": 2, "pause": 1, "loud": True, "token": "tok-123\n"}
    (result,) = coordinator.run(["ab"], transport="echo", transport_options=options)
    assert result.text == "> ABAB"
    settings = coordinator.settings("echo", options)
    assert settings.options == EchoOptions(prefix="> ", repeat=2, pause=1.0, loud=True, token=Secret("tok-123"))
    assert isinstance(settings.options.pause, float)  # an int given for a float field arrives as a float
    assert settings.transport_options["prefix"] == "> "  # third-party code reading the mapping still can
    assert "tok-123" not in repr(settings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefix": "", "repet": 2}, "unknown echo transport option 'repet' (known: prefix, repeat, pause, loud, token)"),
        ({}, "the echo transport needs transport_options['prefix']"),
        ({"prefix": "", "repeat": "2"}, "the echo transport option 'repeat' must be an integer, not str"),
        ({"prefix": "", "repeat": True}, "the echo transport option 'repeat' must be an integer, not bool"),
        ({"prefix": "", "pause": None}, "the echo transport option 'pause' must be a number, not NoneType"),
        ({"prefix": "", "loud": 1}, "the echo transport option 'loud' must be True or False, not int"),
        ({"prefix": "", "token": 42}, "the echo transport option 'token' must be a string or None, not int"),
        ({"prefix": "", "repeat": 0}, "repeat must be at least 1, got 0"),
    ],
)
def test_bad_options_are_errors_naming_the_option_before_any_task_runs(coordinator, options, message):
    with pytest.raises(ValueError) as refused:
        coordinator.run(["x"], transport="echo", transport_options=options)
    assert str(refused.value) == message
    with pytest.raises(ValueError, match="echo|repeat"):
        coordinator.settings("echo", options)  # the same check, for callers that want it before a run
    assert EchoTransport.tasks_run == 0


def test_options_that_are_not_a_mapping_are_refused(coordinator):
    with pytest.raises(TypeError, match="transport_options must be a mapping"):
        coordinator.run(["x"], transport="echo", transport_options=[("prefix", "")])


def test_a_transport_built_by_hand_from_client_settings_checks_its_options_too():
    assert EchoTransport(ClientSettings(transport_options={"prefix": "-"})).settings.options.prefix == "-"
    with pytest.raises(ValueError, match="unknown echo transport option 'prefx'"):
        EchoTransport(ClientSettings(transport_options={"prefx": "-"}))


@pytest.mark.parametrize("transport", ["stream", "messages"])
def test_the_messages_api_transports_take_no_options_so_any_given_is_an_error_before_a_request(transport, api_key):
    with Simulator(tokens=3, token_delay=0.0) as sim:
        with pytest.raises(ValueError, match=f"unknown {transport} transport option 'poll_interval' [(]known: none[)]"):
            Coordinator(base_url=sim.url).run(["x"], transport=transport, transport_options={"poll_interval": 1})
        assert sim.stats.requests == 0

