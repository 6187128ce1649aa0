"""``mac run``: a JSONL file of prompts in, a JSONL file of results out, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mac_core import Coordinator, hookimpl
from mac_core.anthropic_api import HTTP_CLIENTS
from mac_core.coordinator import default_model

from .jobfile import completed_ids, read_jobs
from .output import ResultWriter
from .progress import JobProgress

EXIT_OK, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 130


def _open_for_append(path: Path):
    """Open the results file for appending, starting on a fresh line if a crash tore the last one."""
    stream = path.open("a", encoding="utf-8")
    if path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                stream.write("\n")
    return stream


def _transport_options(transport: str, output: Path) -> dict[str, str]:
    """Batches are recorded next to the output, so a re-run after a crash polls them instead of paying twice."""
    return {"state_file": f"{output}.batches.json"} if transport == "batch" else {}


@hookimpl
def mac_register_commands(cli):
    from mac_plugins.policies.cli import plugins_from_options, run_control_options

    @cli.command("run")
    @click.argument("input_file", metavar="INPUT.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("-o", "--output", metavar="OUTPUT.jsonl", required=True,
                  type=click.Path(dir_okay=False, path_type=Path), help="Results file; appended to, and resumed from.")
    @click.option("--transport", default="stream", show_default=True, help="stream, messages, batch, or any installed one.")
    @click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight.")
    @click.option("--model", default=None, help="Model for lines that name none (default: $MAC_MODEL or claude-sonnet-4-6).")
    @click.option("--max-tokens", type=click.IntRange(min=1), default=1024, show_default=True)
    @click.option("--system", "system_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="A file whose text is the system prompt of every line.")
    @click.option("--http-client", type=click.Choice(HTTP_CLIENTS), default=None,
                  help="HTTP stack under the SDK (default: $MAC_HTTP_CLIENT or httpx); "
                       "aiohttp halves the CPU per event at high concurrency.")
    @run_control_options
    def run_command(input_file, output, transport, concurrency, model, max_tokens, system_file, http_client,
                    **control):
        """Run every prompt of INPUT.jsonl and append one result line per task to OUTPUT.jsonl.

        Each input line is a JSON object: "prompt" and optionally "id", "system",
        "model", "max_tokens", "temperature". Bad lines are reported and
        skipped. Run the same command again to resume: completed ids are
        skipped. Exit 0 when every task completed, 1 otherwise, 130 on Ctrl-C.
        """
        say = lambda message: click.echo(message, err=True)  # noqa: E731
        model = model or default_model()
        jobs = read_jobs(input_file, model=model, max_tokens=max_tokens)
        for bad in jobs.bad_lines:
            say(f"{input_file}:{bad}; skipped")
        done = completed_ids(output)
        todo = [spec for spec in jobs.prompts if spec["id"] not in done]
        already = len(jobs.prompts) - len(todo)
        if not todo:
            say(f"nothing to run: {already} of {len(jobs.prompts)} tasks already completed in {output}")
            sys.exit(EXIT_INCOMPLETE if jobs.bad_lines else EXIT_OK)
        # The job's own progress bar is the default view; a per-agent reporter only when asked for by name.
        per_agent_view = control.get("reporter") in ("rich", "plain")
        if not per_agent_view:
            control["reporter"] = "none"
        plugins = plugins_from_options(**control, batch=transport == "batch")
        try:
            coordinator = Coordinator(plugins=plugins, http_client=http_client)
        except ValueError as exc:  # a bad $MAC_HTTP_CLIENT: a usage error, named, before anything runs
            raise click.UsageError(str(exc)) from None
        if transport not in coordinator.transports:
            raise click.BadParameter(f"unknown transport {transport!r} (installed: {', '.join(sorted(coordinator.transports))})",
                                     param_hint="--transport")
        coordinator.settings(transport)  # a missing API key fails here, before the output file is touched
        system = system_file.read_text() if system_file else None
        with _open_for_append(output) as stream:
            writer = ResultWriter(stream)
            progress = JobProgress(len(todo), stream=sys.stderr, already_done=already, batch=transport == "batch",
                                   live=not per_agent_view)
            try:
                coordinator.run(todo, transport=transport, max_concurrency=concurrency, model=model,
                                max_tokens=max_tokens, system=system, plugins=[writer, progress],
                                transport_options=_transport_options(transport, output))
            except KeyboardInterrupt:
                say(f"interrupted: {writer.written} results written this time, "
                    f"{len(todo) - progress.counts['completed']} tasks not completed.")
                say(f"resume with: mac run {input_file} -o {output}")
                sys.exit(EXIT_INTERRUPTED)
        counts = progress.counts
        say(f"done: {counts['completed']} completed, {counts['failed']} failed, "
            f"{counts['interrupted'] + counts['cancelled']} stopped early this time ({already} completed before); "
            f"{progress.usage.input_tokens} input / {progress.usage.output_tokens} output tokens, ${progress.cost:.4f}")
        if jobs.bad_lines:
            say(f"{len(jobs.bad_lines)} input lines were skipped (see above)")
        complete = counts["completed"] == len(todo) and not jobs.bad_lines
        sys.exit(EXIT_OK if complete else EXIT_INCOMPLETE)
