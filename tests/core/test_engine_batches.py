"""A transport that batches (``batches = True``) gets every task at once, whatever ``max_concurrency`` says."""

from __future__ import annotations

from fake_transport import FakeTransport

from mac_core import Coordinator, hookimpl


class GatheringTransport(FakeTransport):
    """The fake transport, declaring that it groups tasks into batches."""

    name = "gathering"
    batches = True


class GatheringPlugin:
    @hookimpl
    def mac_register_transports(self, register):
        register("gathering", GatheringTransport)
        register("fake", FakeTransport)


def test_a_batching_transport_receives_every_task_at_once():
    GatheringTransport.reset({f"p{i}": [0.05, "x"] for i in range(12)})
    results = Coordinator(plugins=[GatheringPlugin()]).run([f"p{i}" for i in range(12)], transport="gathering",
                                                           max_concurrency=2)
    assert GatheringTransport.max_in_flight == 12
    assert all(r.ok for r in results)


def test_other_transports_still_honour_max_concurrency():
    FakeTransport.reset({f"p{i}": [0.05, "x"] for i in range(12)})
    Coordinator(plugins=[GatheringPlugin()]).run([f"p{i}" for i in range(12)], transport="fake", max_concurrency=2)
    assert FakeTransport.max_in_flight == 2
