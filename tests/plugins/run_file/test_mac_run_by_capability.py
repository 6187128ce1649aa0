"""``mac run`` treats a transport by what it declares (``batches``, a ``state_file`` option), never by its name."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mac_core.pricing import cost_usd
from mac_core.results import Usage

MODEL = "claude-sonnet-4-6"

THIRD_PARTY_PLUGIN = '''
from mac_core import hookimpl
from mac_plugins.batch import BatchTransport
from mac_plugins.messages import MessagesTransport


class PooledBatches(BatchTransport):
    """Someone else's batching transport: batches = True, inherited with the state_file option."""

    name = "pooled"


class NamedBatchButNotOne(MessagesTransport):
    """A transport that answers one request at a time, registered under the name "batch"."""

    name = "batch"


@hookimpl
def mac_register_transports(register):
    register("pooled", PooledBatches)
    register("batch", NamedBatchButNotOne)
'''


def install_third_party_plugin(site: Path) -> str:
    """A plugin distribution on ``site`` (a folder for PYTHONPATH), found by its ``mac`` entry point as any would be."""
    site.mkdir()
    (site / "other_transports.py").write_text(THIRD_PARTY_PLUGIN)
    info = site / "other_transports-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other-transports\nVersion: 1.0\n")
    # Registered after the built-in plugins (entry points load by name), so its "batch" shadows the built-in one.
    (info / "entry_points.txt").write_text("[mac]\nzz_other_transports = other_transports\n")
    return str(site)


def write_jobs(path: Path, count: int) -> None:
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n" for i in range(count)))


def reported_cost(stderr: str) -> float:
    return float(re.search(r"\$(\d+\.\d+)", stderr.splitlines()[-1]).group(1))


def cost_of(output: Path, *, batch: bool) -> float:
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return sum(cost_usd(MODEL, Usage(**{k: v for k, v in r["usage"].items() if k in Usage.__dataclass_fields__}),
                        batch=batch) for r in records)


def test_a_batching_transport_under_another_name_gets_a_state_file_and_batch_pricing(start_mac_cli, tmp_path):
    mac = start_mac_cli(batch_delay=0.002)
    mac.env["PYTHONPATH"] = install_third_party_plugin(tmp_path / "site")
    write_jobs(tmp_path / "in.jsonl", 20)
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport", "pooled", "--model", MODEL)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.jsonl.batches.json").exists()  # a crash mid-batch resumes without paying twice
    assert mac.sim.stats.batches == 1
    assert reported_cost(done.stderr) == round(cost_of(tmp_path / "out.jsonl", batch=True), 4) > 0


def test_a_transport_named_batch_without_the_flag_is_treated_as_what_it_is(start_mac_cli, tmp_path):
    mac = start_mac_cli()
    mac.env["PYTHONPATH"] = install_third_party_plugin(tmp_path / "site")
    write_jobs(tmp_path / "in.jsonl", 20)
    done = mac.run("run", "in.jsonl", "-o", "out.jsonl", "--transport", "batch", "--model", MODEL)
    assert done.returncode == 0, done.stderr  # given no state_file it does not take
    assert not (tmp_path / "out.jsonl.batches.json").exists()
    assert mac.sim.stats.batches == 0
    assert reported_cost(done.stderr) == round(cost_of(tmp_path / "out.jsonl", batch=False), 4) > 0
