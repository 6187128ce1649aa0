"""The ``mac_sim`` pytest fixture: test your own coordination code offline, against the embedded simulator.

Installed with multi-agent-coordination (entry point ``pytest11``), so any
test can ask for it; nothing to import, no HTTP to mock::

    import pytest
    from mac_core import Coordinator, invoke_claude

    def test_fan_out_answers_every_prompt(mac_sim):
        results = Coordinator().run(["first", "second"])
        assert [r.status for r in results] == ["completed", "completed"]
        assert mac_sim.stats.messages == 2

    @pytest.mark.mac_sim(fault_rate=1.0, faults=("overloaded",))
    def test_an_overloaded_api_is_reported(mac_sim):
        ...

For the test's duration ``ANTHROPIC_BASE_URL`` is the simulator's URL and
``ANTHROPIC_API_KEY`` a dummy key (:data:`DUMMY_API_KEY`), both put back
afterwards; the simulator is stopped when the test ends. The fixture is the
:class:`~mac_plugins.simulator.Simulator`: ``.url``, ``.ws_url`` (the
scripted agent, for ``transport="agent-ws"``), ``.stats`` (its counters).
The ``mac_sim`` marker takes :class:`~mac_plugins.simulator.SimulatorSettings`
fields; answers stream without delay unless it gives ``token_delay``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import Simulator

#: The API key the fixture puts in the environment: well-formed, and not a key anywhere.
DUMMY_API_KEY = "sk-ant-mac-sim-dummy-key"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``mac_sim`` marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers", "mac_sim(**settings): settings of the mac_sim fixture's simulator (SimulatorSettings fields)"
    )


@pytest.fixture
def mac_sim(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The embedded simulator on a free loopback port, with ``ANTHROPIC_BASE_URL`` and a dummy key set to reach it.

    Settings come from the test's ``@pytest.mark.mac_sim(...)`` marker (the
    closest one: function, class or module); ``token_delay`` is 0 unless given.
    """
    from .server import Simulator  # starlette and uvicorn load only for tests that use the fixture

    marker = request.node.get_closest_marker("mac_sim")
    settings = {"token_delay": 0.0, **(marker.kwargs if marker else {})}
    sim = Simulator(**settings).start()
    try:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", DUMMY_API_KEY)
        yield sim
    finally:
        sim.stop()
