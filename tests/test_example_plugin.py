"""examples/mac-stop-words, installed for real with pip: found through the `mac` entry point, and acting in a run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

import mac_core.plugins
from mac_core import Completion, Coordinator, Event, Transport, hookimpl
from mac_core.cli import cli

EXAMPLE = Path(__file__).parent.parent / "examples" / "mac-stop-words"


class Streams(Transport):
    """Streams ``transport_options["answers"][prompt]`` chunk by chunk; ``None`` waits until cancelled."""

    name = "answers"
    streams = True
    needs_api_key = False

    async def run_task(self, task, emit):
        for chunk in self.settings.transport_options["answers"][task.prompt]:
            if chunk is None:
                await anyio.sleep_forever()
            emit(Event("text", chunk))
            await anyio.sleep(0.005)
        return Completion()


class StreamsPlugin:
    @hookimpl
    def mac_register_transports(self, register):
        register("answers", Streams)


def run(answers: dict[str, list[str | None]]):
    return Coordinator(plugins=[StreamsPlugin()]).run(
        list(answers), transport="answers", transport_options={"answers": answers}
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example installed with pip into a folder of its own (built from a copy: pip builds in-tree)."""
    source = tmp_path_factory.mktemp("src") / "mac-stop-words"
    shutil.copytree(EXAMPLE, source)
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "--target",
         str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return target


@pytest.fixture
def installed(site, monkeypatch):
    """The install folder on sys.path, and the entry points looked up afresh (then as they were)."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(mac_core.plugins, "_entry_point_plugins", None)
    yield site
    sys.modules.pop("mac_stop_words", None)


def test_the_installed_entry_point_is_discovered_and_listed(installed):
    rows = {row["name"]: row for row in mac_core.plugins.describe_plugins(mac_core.plugins.plugin_manager())}
    assert rows["stop_words"]["distribution"] == "mac-stop-words"
    assert "interrupt policy" in rows["stop_words"]["provides"]
    assert Path(sys.modules["mac_stop_words"].__file__).is_relative_to(installed)  # the installed copy
    listing = CliRunner().invoke(cli, ["plugins"])
    assert listing.exit_code == 0
    assert any(line.startswith("stop_words") and "[mac-stop-words]" in line for line in listing.output.splitlines())


def test_the_installed_policy_stops_a_run_at_a_stop_word_split_across_chunks(installed, monkeypatch):
    monkeypatch.setenv("MAC_STOP_WORDS", "data loss, abort")
    results = run({"writer": ["all fine, ", "then ab", "ort now", "never sent"], "reader": ["reading", None]})
    reason = "task-0 wrote the stop word 'abort'"
    assert (results[0].status, results[0].text, results[0].interrupt_reason) == (
        "interrupted", "all fine, then abort now", reason)
    assert (results[1].status, results[1].text, results[1].interrupt_reason) == ("interrupted", "reading", reason)


def test_the_installed_policy_matches_whole_words_and_is_inert_until_configured(installed, monkeypatch):
    monkeypatch.setenv("MAC_STOP_WORDS", "abort")
    assert run({"a": ["the abortive ", "re", "abort attempt"]})[0].status == "completed"
    monkeypatch.delenv("MAC_STOP_WORDS")
    assert run({"a": ["abort ", "abort"]})[0].status == "completed"
