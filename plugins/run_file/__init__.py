"""``mac run``: a JSONL file of prompts in, a JSONL file of results out, resumable."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from mac_core import Coordinator, Transport, hookimpl
from mac_core.anthropic_api import HTTP_CLIENTS
from mac_core.coordinator import default_model
from mac_core.transport import read_options

from .jobfile import STDIN, JobFile, read_jobs, request_fingerprint
from .options import TransportOptionError, missing_options, parse_transport_options
from .output import ResultWriter
from .target import OutputBusy, ResultsTarget

EXIT_OK, EXIT_INCOMPLETE, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130
SHOWN_IDS = 10  # ids named in one message; the rest are counted


@dataclass
class Plan:
    """What this attempt runs: ``todo``; ``already`` done before; ``changed``: done, but for a request since edited."""

    todo: list[dict]
    already: int
    changed: list[str]


def _plan(jobs: JobFile, done: dict[str, str | None], hashes: dict[str, str]) -> Plan:
    """Skip lines completed for the same request; a result without a fingerprint (an older mac) counts as done."""
    todo, changed = [], []
    for spec in jobs.prompts:
        if spec["id"] in done:
            if done[spec["id"]] in (None, hashes[spec["id"]]):
                continue
            changed.append(spec["id"])
        todo.append(spec)
    return Plan(todo, len(jobs.prompts) - len(todo), changed)


def _ids(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:SHOWN_IDS])  # repr: a lone surrogate prints as its escape
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def _refuse_changed(changed: list[str], say) -> None:
    one = len(changed) == 1
    say(f"mac run: {len(changed)} completed result{'' if one else 's'} answer{'s' if one else ''} a different request "
        f"than {'its line' if one else 'their lines'} now ask{'s' if one else ''}: {_ids(changed)}")
    say("(the prompt, system, model, max_tokens or temperature changed, or a line without an id moved). "
        "Nothing was sent. Add --rerun-changed to run them again (the new result replaces the old one), "
        "or restore the input and options to resume as before.")
    sys.exit(EXIT_REFUSED)


def _takes_state_file(transport: type[Transport]) -> bool:
    """Whether ``transport`` declares a ``state_file`` option: where it records work to resume without paying twice."""
    options = transport.options_type
    return dataclasses.is_dataclass(options) and any(f.name == "state_file" for f in dataclasses.fields(options))


def _transport_options(transport: type[Transport], target: ResultsTarget) -> dict[str, str]:
    """Batches are recorded next to the output, so a re-run after a crash polls them instead of paying twice."""
    wanted = transport.batches and _takes_state_file(transport) and target.resumable
    return {"state_file": f"{target.path}.batches.json"} if wanted else {}


def _report_unsaved(writer: ResultWriter, target: ResultsTarget, say) -> None:
    for task_id, reason in writer.unsaved[:SHOWN_IDS]:
        say(f"mac run: could not write the result of task {task_id!r} to {target}: {reason}")
    if len(writer.unsaved) > SHOWN_IDS:
        say(f"mac run: ... and {len(writer.unsaved) - SHOWN_IDS} more results could not be written")
    say("mac run: the run stopped at the first result that could not be written; the lines written before are whole")


def _compact(target: ResultsTarget, say) -> None:
    """One line per id in a regular results file; a failure to do so loses nothing and is said."""
    if not target.resumable:
        return
    try:
        dropped = target.compact()
    except OSError as exc:
        say(f"mac run: could not compact {target} ({exc.strerror or exc}); every line is kept, "
            "and the last line for an id is its result")
        return
    if dropped:
        say(f"compacted {target}: {dropped} superseded line{'' if dropped == 1 else 's'} removed, one line per id"
            + (f"; superseded answers kept in {target.superseded_path}" if target.superseded_path.exists() else ""))


def _compact_if_free(target: ResultsTarget, say) -> None:
    """Compact when no other run holds the file (one that does compacts when it ends)."""
    if not target.resumable or not target.path.exists():
        return
    try:
        stream = target.open()
    except (OutputBusy, OSError):
        return
    with stream:
        _compact(target, say)


def _checked_transport_options(transport: str, transport_class: type[Transport], given: tuple[str, ...],
                               automatic: dict[str, str], say) -> dict:
    """The ``--transport-option`` values, typed and checked against the transport; one line and exit 2 if not."""
    options_type = transport_class.options_type
    try:
        options = {**automatic, **parse_transport_options(given, options_type)}  # what the user gave wins
        missing = missing_options(options_type, options)
        if missing:
            raise TransportOptionError(f"the {transport} transport needs --transport-option {missing[0]}=VALUE")
        if options_type is not None:
            read_options(options_type, options, transport)
    except ValueError as exc:  # TransportOptionError, or the core naming the option
        say(f"mac run: --transport-option: {exc}")
        sys.exit(EXIT_REFUSED)
    return options


@hookimpl
def mac_register_commands(cli):
    from mac_plugins.policies.cli import plugins_from_options, run_control_options

    @cli.command("run")
    @click.argument("input_file", metavar="INPUT.jsonl",
                    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
    @click.option("-o", "--output", metavar="OUTPUT.jsonl", required=True,
                  type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                  help="Results file; appended to, resumed from, compacted to one line per id at the end. "
                       "- (or /dev/stdout) writes to stdout, no resume.")
    @click.option("--rerun-changed", is_flag=True,
                  help="Run again the lines whose request changed since their result was written (default: refuse).")
    @click.option("--transport", default="stream", show_default=True, help="stream, messages, batch, agent-ws, "
                  "or any installed one.")
    @click.option("--transport-option", "transport_option", metavar="KEY=VALUE", multiple=True,
                  help="An option of the transport (repeatable), e.g. --transport agent-ws --transport-option "
                       "url=http://127.0.0.1:3000. VALUE is text, converted to the option's declared type: an "
                       "integer, a number, or true/false. A token given here shows in the process list.")
    @click.option("--max-concurrency", "--concurrency", "max_concurrency", type=click.IntRange(min=1), default=8,
                  show_default=True, help="Requests in flight at once (the Python API's max_concurrency).")
    @click.option("--model", default=None, help="Model for lines that name none (default: $MAC_MODEL or claude-sonnet-4-6).")
    @click.option("--max-tokens", type=click.IntRange(min=1), default=1024, show_default=True)
    @click.option("--system", "system_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="A file whose text is the system prompt of every line.")
    @click.option("--http-client", type=click.Choice(HTTP_CLIENTS), default=None,
                  help="HTTP stack under the SDK (default: $MAC_HTTP_CLIENT or httpx); "
                       "aiohttp halves the CPU per event at high concurrency.")
    @click.option("--redis-url", default=None, metavar="URL",
                  help="Share the rate-limit budget with other processes through this Redis server "
                       "(default: $MAC_REDIS_URL; none: this process's own). Needs the redis extra.")
    @run_control_options
    def run_command(input_file, output, rerun_changed, transport, transport_option, max_concurrency, model,
                    max_tokens, system_file, http_client, redis_url, **control):
        """Run every prompt of INPUT.jsonl and append one result line per task to OUTPUT.jsonl.

        Each input line is a JSON object: "prompt" and optionally "id", "system",
        "model", "max_tokens", "temperature"; a line without "id" has its line
        number as id. Bad lines are reported and skipped. INPUT.jsonl - reads
        stdin; -o - writes the results to stdout (all talk goes to stderr).

        Run the same command again to resume: completed ids are skipped and
        failed ones are tried again. Each result records a hash of its
        request (prompt, system, model, max_tokens, temperature); if a line
        changed since its result was written, the resume is refused and names
        it, unless --rerun-changed. One run at a time may write to
        OUTPUT.jsonl (a lock, released however it ends).

        While a run goes, results are appended, so an id may have an older
        line (a failure, or an answer to a changed request) before its newer
        one: the last line for an id is its result. When a run ends other than
        by Ctrl-C or an unwritable result, OUTPUT.jsonl (a regular file) is
        compacted to exactly one line per id, its last, by writing a new file
        and renaming it over the old one.

        \b
        Exit codes:
          0    every task that could run completed and its result was written;
               bad input lines are reported on stderr and skipped, and do not
               change the exit code (running again cannot fix them)
          1    a task failed or was stopped early, or a result could not be
               written (full disk, closed pipe: the run stops at once, names
               the task and the reason, and the lines written stay whole);
               running the same command again retries what is not done
          2    refused before anything was sent or written: bad options or
               transport options, no API key, -o in a missing folder or on a
               read-only disk, -o is the input file, another mac run is
               writing to -o, or changed lines without --rerun-changed
          130  Ctrl-C
        """
        from .progress import JobProgress  # rich: loaded when a run starts, not with every `mac`

        say = lambda message: click.echo(message, err=True)  # noqa: E731
        model = model or default_model()
        target = ResultsTarget(output)
        from_stdin = str(input_file) == STDIN
        if not from_stdin and target.is_file(input_file):
            raise click.BadParameter(f"{str(output)!r} is the input file: the results would be appended to the prompts",
                                     param_hint="'-o' / '--output'")
        try:
            coordinator = Coordinator(http_client=http_client, redis_url=redis_url)
        except ValueError as exc:  # a bad $MAC_HTTP_CLIENT or Redis URL: a usage error, named, before anything runs
            raise click.UsageError(str(exc)) from None
        if transport not in coordinator.transports:
            raise click.BadParameter(f"unknown transport {transport!r} (installed: {', '.join(sorted(coordinator.transports))})",
                                     param_hint="--transport")
        # What the transport does decides its treatment, never its name: a batching one is priced at the discount.
        transport_class = coordinator.transports[transport].transport
        transport_options = _checked_transport_options(transport, transport_class, transport_option,
                                                       _transport_options(transport_class, target), say)
        system = system_file.read_text() if system_file else None
        jobs = read_jobs(input_file, model=model, max_tokens=max_tokens)
        for bad in jobs.bad_lines:
            say(f"{'<stdin>' if from_stdin else input_file}:{bad}; skipped")
        hashes = {spec["id"]: request_fingerprint(spec, model=model, max_tokens=max_tokens, system=system)
                  for spec in jobs.prompts}

        def report_bad_lines() -> None:
            if jobs.bad_lines:
                one = len(jobs.bad_lines) == 1
                say(f"mac run: {len(jobs.bad_lines)} bad input line{'' if one else 's'} {'was' if one else 'were'} "
                    "skipped (see above); fix and run again to run them")

        def plan_or_exit(*, locked: bool) -> Plan:
            try:
                plan = _plan(jobs, target.completed(), hashes)
            except OSError as exc:
                say(f"mac run: cannot read the results already in {target}: {exc.strerror or exc}")
                sys.exit(EXIT_REFUSED)
            if plan.changed and not rerun_changed:
                _refuse_changed(plan.changed, say)
            if not plan.todo:
                say(f"nothing to run: {plan.already} of {len(jobs.prompts)} tasks already completed in {target}")
                if not locked:
                    _compact_if_free(target, say)  # an earlier run stopped by Ctrl-C may have left older lines
                report_bad_lines()
                sys.exit(EXIT_OK)
            return plan

        plan_or_exit(locked=False)  # refusals and "nothing to run" need no API key
        # The job's own progress bar is the default view; a per-agent reporter only when asked for by name.
        per_agent_view = control.get("reporter") in ("rich", "plain")
        if not per_agent_view:
            control["reporter"] = "none"
        policies = plugins_from_options(**control, batch=transport_class.batches)
        coordinator.settings(transport, transport_options)  # a missing API key fails here, before the output is touched
        try:
            stream = target.open()
        except OutputBusy as exc:
            say(f"mac run: {exc}")
            sys.exit(EXIT_REFUSED)
        except OSError as exc:
            say(f"mac run: cannot write to {target}: {exc.strerror or exc}")
            sys.exit(EXIT_REFUSED)
        with stream:
            plan = plan_or_exit(locked=True)  # again under the lock: a run that ended meanwhile may have done some
            if plan.changed:
                one = len(plan.changed) == 1
                say(f"mac run: running {len(plan.changed)} task{'' if one else 's'} again whose "
                    f"request{'' if one else 's'} changed: {_ids(plan.changed)}")
            resume_hint = (f"resume with: mac run {input_file} -o {output}" if target.resumable
                           else f"the results went to {target}: there is no file to resume from")
            writer = ResultWriter(stream, hashes)
            progress = JobProgress(len(plan.todo), stream=sys.stderr, already_done=plan.already,
                                   batch=transport_class.batches, live=not per_agent_view)
            try:
                coordinator.run(plan.todo, transport=transport, max_concurrency=max_concurrency, model=model,
                                max_tokens=max_tokens, system=system, plugins=[*policies, writer, progress],
                                transport_options=transport_options)
            except KeyboardInterrupt:
                progress.close()
                say(f"interrupted: {writer.written} results written this time, "
                    f"{len(plan.todo) - progress.counts['completed']} tasks not completed.")
                if writer.unsaved:
                    _report_unsaved(writer, target, say)
                say(resume_hint)
                sys.exit(EXIT_INTERRUPTED)
            if not writer.unsaved:
                _compact(target, say)
        counts = progress.counts
        say(f"done: {counts['completed']} completed, {counts['failed']} failed, "
            f"{counts['interrupted'] + counts['cancelled']} stopped early this time ({plan.already} completed before); "
            f"{progress.usage.input_tokens} input / {progress.usage.output_tokens} output tokens, ${progress.cost:.4f}")
        report_bad_lines()
        if writer.unsaved:
            _report_unsaved(writer, target, say)
            say(resume_hint)
        complete = counts["completed"] == len(plan.todo) and not writer.unsaved
        sys.exit(EXIT_OK if complete else EXIT_INCOMPLETE)
