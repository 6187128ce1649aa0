"""Starting is cheap: ``import mac_core`` and ``mac --help`` load no SDK, server or terminal library.

What each start costs is measured in ``bench/startup.py``; these tests pin down
the behaviour that keeps it low, in a fresh interpreter each.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import mac_core
from mac_core import anthropic_api
from mac_core.anthropic_api import ClientShards
from mac_core.cli import LazyCommand
from mac_core.transport import ClientSettings

#: What a run needs only once it runs: the SDK and its HTTP stack, the servers, the terminal UI, the agent SDK.
HEAVY = ("anthropic", "httpx2", "httpcore2", "aiohttp", "rich", "uvicorn", "starlette", "h11", "claude_agent_sdk",
         "websockets", "pydantic")


def heavy_modules_after(code: str) -> list[str]:
    """The :data:`HEAVY` modules loaded once ``code`` has run in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint('\\nLOADED', json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "LOADED" in done.stdout, done.stderr[-2000:]
    return json.loads(done.stdout.rsplit("LOADED", 1)[1])


def test_importing_mac_core_loads_no_sdk_server_or_terminal_library():
    assert heavy_modules_after("import mac_core") == []


def test_mac_help_loads_no_sdk_server_or_terminal_library():
    code = "from mac_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as exit:\n    assert exit.code == 0"
    assert heavy_modules_after(code) == []


@pytest.mark.parametrize("command", ["sim", "replay", "demo", "agent-server", "policies", "plugins"])
def test_a_commands_help_loads_no_sdk(command):
    code = f"from mac_core.cli import main\ntry:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass"
    assert "anthropic" not in heavy_modules_after(code)


def test_every_public_name_of_mac_core_still_imports():
    names = ", ".join(mac_core.__all__)
    assert heavy_modules_after(f"from mac_core import {names}") == []


@pytest.mark.parametrize("plugin", ["simulator", "reporters", "agent_ws", "agent_server"])
def test_every_public_name_of_a_built_in_plugin_still_imports(plugin):
    code = (f"import importlib\nmodule = importlib.import_module('mac_plugins.{plugin}')\n"
            "for name in module.__all__:\n    getattr(module, name)")
    heavy_modules_after(code)  # asserts it ran


@pytest.fixture
def ssl_contexts_built(monkeypatch) -> list[object]:
    """Every SSL context built from here on, in a process that has built none yet."""
    import httpx2

    built: list[object] = []
    create = httpx2.create_ssl_context

    def counting(*args, **kwargs):
        built.append(create(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(anthropic_api, "_ssl_contexts", {}, raising=False)  # none built yet
    monkeypatch.setattr(httpx2, "create_ssl_context", counting)
    return built


@pytest.mark.anyio
async def test_runs_in_one_process_read_the_ca_bundle_once(ssl_contexts_built):
    settings = ClientSettings(api_key=None, base_url="http://127.0.0.1:9")
    for streaming in (True, False):  # two runs, one per Messages API transport
        shards = ClientShards(settings, streaming=streaming)
        async with shards.client():
            pass
        await shards.aclose()
    assert len(ssl_contexts_built) == 1


@pytest.mark.anyio
async def test_a_changed_ca_bundle_variable_gets_its_own_ssl_context(ssl_contexts_built, monkeypatch):
    import ssl

    settings = ClientSettings(api_key=None, base_url="http://127.0.0.1:9")
    for cafile in (None, ssl.get_default_verify_paths().openssl_cafile):
        if cafile:
            monkeypatch.setenv("SSL_CERT_FILE", cafile)
        shards = ClientShards(settings, streaming=True)
        async with shards.client():
            pass
        await shards.aclose()
    assert len(ssl_contexts_built) == 2


LAZY_MODULE = '''
import click

@click.command("greet")
@click.option("--name", default="world")
def greet(name):
    """Say hello to NAME.

    More help that the listing does not show.
    """
    click.echo(f"hello {name}")
'''


@pytest.fixture
def lazy_module(tmp_path, monkeypatch) -> str:
    """A module with a click command, importable but not imported yet."""
    (tmp_path / "lazy_greeting.py").write_text(LAZY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_greeting", raising=False)
    return "lazy_greeting"


def test_a_lazy_command_is_listed_without_importing_its_module(lazy_module):
    group = click.Group("mac", commands=[LazyCommand("greet", f"{lazy_module}:greet", summary="Say hello to NAME.")])
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0 and "greet  Say hello to NAME." in result.output
    assert lazy_module not in sys.modules


def test_a_lazy_command_runs_and_helps_as_the_real_one(lazy_module):
    group = click.Group("mac", commands=[LazyCommand("greet", f"{lazy_module}:greet", summary="Say hello to NAME.")])
    result = CliRunner().invoke(group, ["greet", "--name", "Ada"])
    assert result.exit_code == 0 and result.output == "hello Ada\n"
    result = CliRunner().invoke(group, ["greet", "--help"])
    assert "Usage: mac greet [OPTIONS]" in result.output and "More help that the listing" in result.output
    assert "--name" in result.output
    result = CliRunner().invoke(group, ["greet", "--nme", "x"])
    assert result.exit_code == 2 and "Did you mean '--name'?" in result.output


def collections_during_sdk_import(setup: str = "") -> dict:
    """In a fresh interpreter: how many collections ran while :func:`import_sdk` loaded the SDK, and the gc state after."""
    code = f"""
import gc, json
{setup}
from mac_core.anthropic_api import import_sdk
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
import_sdk()
print(json.dumps({{"collections": len(collections), "enabled": gc.isenabled(), "imported": "anthropic" in __import__("sys").modules}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_sdk_loads_without_the_collector_rescanning_it_and_the_collector_is_back_after():
    assert collections_during_sdk_import() == {"collections": 0, "enabled": True, "imported": True}


def test_a_collector_the_user_turned_off_stays_off():
    assert collections_during_sdk_import("gc.disable()") == {"collections": 0, "enabled": False, "imported": True}
