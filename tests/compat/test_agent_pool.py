"""AgentPool as SKILL.md shows it: spawn commits, messages reach the next turn, reservations roll back, limits hold."""

from __future__ import annotations

import pytest

from mac_core import EXECUTE_MODE, AgentPool


def test_the_skill_md_agent_pool_example_runs(sim):
    pool = AgentPool(shared_system="You are reviewing the auth module of a web app.", max_depth=3, max_agents=10)
    pool.spawn("security", system=f"Focus on vulnerabilities.\n\n{pool.EXECUTE_MODE}")
    pool.spawn("perf", system=f"Focus on performance.\n\n{pool.EXECUTE_MODE}")
    assert pool.run("security", "[[reply: login flow is fine]]") == "login flow is fine"
    answer = pool.send("security", to="perf", content="Auth does N+1 queries in the session check loop",
                       trigger_turn=True)
    assert isinstance(answer, str) and answer
    perf_prompt = pool._agents["perf"].get_messages()[0]["content"]
    assert perf_prompt.startswith("[Message from security]: Auth does N+1 queries")
    assert perf_prompt.endswith("[Triggered by message from security]")
    assert pool.broadcast("security", "Auth uses bcrypt cost=12, 200ms per hash") == {}
    assert pool.agents() == ["security", "perf"]
    assert pool.agent_info("perf") == {"name": "perf", "depth": 0, "children": [], "pending_messages": 1, "turns": 1}
    pool.run("perf", "[[reply: noted]]")
    assert pool.agent_info("perf")["pending_messages"] == 0
    assert "[Message from security]: Auth uses bcrypt" in pool._agents["perf"].get_messages()[2]["content"]


def test_an_agents_system_prompt_follows_the_shared_one(sim):
    pool = AgentPool(shared_system="Shared.")
    pool.spawn("a", system="Own.")
    assert pool._agents["a"].system == "Shared.\n\nOwn."
    assert pool.EXECUTE_MODE == EXECUTE_MODE and "do not ask" in EXECUTE_MODE


def test_a_reservation_commits_on_success_and_rolls_back_on_error(sim):
    pool = AgentPool(shared_system="Code review team")
    with pool.reserve("analyst", parent="lead") as res:
        res.configure(system="You analyze code complexity.", model="claude-opus-4-6")
    assert "analyst" in pool and pool._agents["analyst"].model == "claude-opus-4-6"
    with pytest.raises(RuntimeError), pool.reserve("doomed") as res:
        raise RuntimeError("setup failed")
    assert "doomed" not in pool
    pool.spawn("doomed")  # the name was released
    assert pool.spawn("sub-analyst", parent="analyst") == "sub-analyst"
    assert pool.agent_info("sub-analyst")["depth"] == 2 and pool.agent_info("analyst")["children"] == ["sub-analyst"]
    with pytest.raises(ValueError, match="depth limit"):
        pool.spawn("sub-sub", parent="sub-analyst")


def test_names_and_the_pool_size_are_enforced(sim):
    pool = AgentPool(max_agents=2)
    pool.spawn("a")
    with pytest.raises(ValueError, match="already exists"):
        pool.spawn("a")
    pool.spawn("b")
    with pytest.raises(ValueError, match=r"Pool full \(2 agents\)"):
        pool.spawn("c")
    pool.shutdown("a")
    pool.spawn("c")
    assert len(pool) == 2
    with pytest.raises(ValueError, match="not in pool"):
        pool.run("a", "hello")
    pool.shutdown_all()
    assert pool.agents() == []
