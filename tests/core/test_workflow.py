"""The hybrid workflow: the decision sees every analysis, partial ones included, and drives delegation."""

from __future__ import annotations

from fake_transport import FakePlugin, FakeTransport

from mac_core import Coordinator, Interrupt, findings_report, hookimpl


class StopOnCritical:
    @hookimpl
    def mac_should_interrupt(self, event):
        if "CRITICAL" in event.text:
            return Interrupt(reason="critical finding", scope="run")
        return None


def test_the_decision_sees_partial_analyses_and_its_prompt_reaches_the_agent():
    FakeTransport.reset(
        {
            "security": ["CRITICAL: eval() on user input"],
            "performance": ["loops look fine so far", "WAIT"],
            "FIX": ["edited app.py"],
        }
    )
    seen = {}
    agent_events = []

    def decide(analyses):
        seen["statuses"] = {a.name: a.status for a in analyses}
        seen["report"] = findings_report(analyses)
        return "FIX"

    coordinator = Coordinator(plugins=[FakePlugin()])
    outcome = coordinator.hybrid(
        [{"name": "performance", "prompt": "performance"}, {"name": "security", "prompt": "security"}],
        decide,
        agent_url="http://127.0.0.1:3000",
        analysis_transport="fake",
        agent_transport="fake",
        plugins=[StopOnCritical()],
        on_agent_event=agent_events.append,
    )
    assert seen["statuses"] == {"performance": "interrupted", "security": "interrupted"}
    assert "performance (interrupted before the end: partial)" in seen["report"]
    assert "loops look fine so far" in seen["report"] and "eval() on user input" in seen["report"]
    assert outcome.implementation_prompt == "FIX"
    assert outcome.implementation.status == "completed" and outcome.implementation.text == "edited app.py"
    assert [e.text for e in agent_events if e.type == "text"] == ["edited app.py"]


def test_a_decision_of_none_delegates_nothing():
    FakeTransport.reset({"a": ["all good"]})
    outcome = Coordinator(plugins=[FakePlugin()]).hybrid(
        ["a"], lambda analyses: None, agent_url="http://127.0.0.1:3000", analysis_transport="fake", agent_transport="fake"
    )
    assert outcome.implementation is None and outcome.implementation_prompt is None
    assert FakeTransport.started == ["a"]
