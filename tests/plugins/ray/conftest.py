"""One local Ray cluster per test session (per xdist worker), started the way the transport starts one.

Starting a cluster takes seconds and about a gigabyte, so every Ray test of
a session shares it; the modules carry ``xdist_group("ray")`` so that
``--dist loadgroup`` keeps them on one worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local cluster of 2 CPUs; yields its address (what ``RAY_ADDRESS`` would say)."""
    from mac_plugins.ray.cluster import connect
    from mac_plugins.ray.options import RayOptions

    # The Claude Code CLIs the agent workers start keep their state here, not in the user's home.
    os.environ["CLAUDE_CONFIG_DIR"] = str(tmp_path_factory.mktemp("claude-config"))
    assert not ray.is_initialized()
    started = connect(
        RayOptions(address="local", num_cpus=2)
    )  # from the main thread, which outlives the session
    assert started
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
