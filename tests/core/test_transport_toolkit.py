"""The transport author's toolkit (``mac_core.anthropic_api``): its documented example runs as written."""

from __future__ import annotations

import textwrap

import anthropic
from mac_plugins.simulator import Simulator

import mac_core.anthropic_api as toolkit
from mac_core import Completion, Coordinator, Transport, hookimpl
from mac_core.pricing import cost_usd


def example_transport() -> type[Transport]:
    """The class in the module docstring, executed with the toolkit's own names in scope."""
    doc = toolkit.__doc__
    start = doc.index("    class MyMessagesTransport")
    end = doc.index("What is here:")
    namespace = {**vars(toolkit), "Transport": Transport, "Completion": Completion, "anthropic": anthropic}
    exec(textwrap.dedent(doc[start:end]), namespace)
    return namespace["MyMessagesTransport"]


def test_the_documented_example_transport_runs_tasks_and_maps_errors():
    transport = example_transport()

    class Register:
        @hookimpl
        def mac_register_transports(self, register):
            register("mine", transport)

    with Simulator(tokens=8, token_delay=0.0) as sim:
        coordinator = Coordinator(plugins=[Register()], api_key="sk-ant-toolkit", base_url=sim.url, max_retries=0)
        ok, broken = coordinator.run(
            ["Say something.", {"prompt": "x", "extra_headers": {"x-mac-sim-fault": "overloaded"}}], transport="mine"
        )
    assert ok.ok and len(ok.text.split()) == 8
    assert ok.cost_usd == cost_usd(ok.model, ok.usage)  # bills_tokens: the engine priced it
    assert (broken.status, broken.status_code, broken.error_type) == ("failed", 529, "overloaded_error")
