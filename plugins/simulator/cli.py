"""``mac sim``: the simulator in the foreground."""

from __future__ import annotations

import pathlib

import click

from .rate_limits import RateLimits, parse_model_limit
from .settings import FAULT_KINDS, RANDOM_FAULTS, SimulatorSettings


def _parse_model_limits(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, RateLimits]:
    limits: dict[str, RateLimits] = {}
    for value in values:
        try:
            model, model_limits = parse_model_limit(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        if model in limits:
            raise click.BadParameter(f"{model!r} is given twice")
        limits[model] = model_limits
    return limits


def _describe_limits(settings: SimulatorSettings) -> str:
    def describe(limits: RateLimits) -> str:
        return ", ".join(f"{name}={getattr(limits, name) or 'unlimited'}" for name in ("rpm", "itpm", "otpm"))

    parts = [f"every model {describe(RateLimits(settings.rpm, settings.itpm, settings.otpm))}"]
    parts += [f"{model} {describe(limits)}" for model, limits in settings.model_limits.items()]
    return "; ".join(parts)


@click.command("sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8750, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one)."
)
@click.option(
    "--tokens",
    default=SimulatorSettings.tokens,
    show_default=True,
    type=click.IntRange(1),
    help="Words in an unscripted answer.",
)
@click.option(
    "--token-delay",
    default=SimulatorSettings.token_delay,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds before each streamed word.",
)
@click.option(
    "--ttft",
    default=SimulatorSettings.ttft,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds before the first content event.",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Chance that a Messages request gets a random fault.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    type=click.Choice(FAULT_KINDS),
    help=f"A fault kind --fault-rate draws from (repeatable; default: {', '.join(RANDOM_FAULTS)}).",
)
@click.option("--seed", default=0, show_default=True, help="Makes answers and random faults reproducible.")
@click.option(
    "--slow-seconds",
    default=SimulatorSettings.slow_seconds,
    show_default=True,
    type=click.FloatRange(0),
    help="How long the 'slow' fault waits before the first byte.",
)
@click.option(
    "--batch-delay",
    default=SimulatorSettings.batch_delay,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds a batch spends on each request.",
)
@click.option(
    "--agent-workspace",
    default=None,
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help="Directory where the scripted agent's Write/Edit/Read act (default: simulated tools).",
)
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    help="A browser origin allowed to use /config and /ws (repeatable; others get 403).",
)
@click.option(
    "--rpm",
    default=None,
    type=click.IntRange(1),
    help="Requests per minute of every model (default: unlimited).",
)
@click.option(
    "--itpm",
    default=None,
    type=click.IntRange(1),
    help="Uncached input tokens per minute of every model (default: unlimited).",
)
@click.option(
    "--otpm",
    default=None,
    type=click.IntRange(1),
    help="Output tokens per minute of every model (default: unlimited).",
)
@click.option(
    "--model-limit",
    "model_limits",
    multiple=True,
    callback=_parse_model_limits,
    metavar="MODEL:rpm=N,itpm=N,otpm=N",
    help="Limits of one model, over --rpm/--itpm/--otpm (repeatable; any of the three).",
)
def sim_command(
    host: str,
    port: int,
    tokens: int,
    token_delay: float,
    ttft: float,
    fault_rate: float,
    faults: tuple[str, ...],
    seed: int,
    slow_seconds: float,
    batch_delay: float,
    agent_workspace: pathlib.Path | None,
    allowed_origins: tuple[str, ...],
    rpm: int | None,
    itpm: int | None,
    otpm: int | None,
    model_limits: dict[str, RateLimits],
) -> None:
    """Serve a simulated Anthropic API (Messages, Batches) and a scripted agent (/config, /ws).

    Point a client at it with ANTHROPIC_BASE_URL and any API key. A user
    message with [[reply: TEXT]] is answered with TEXT; [[tool: NAME {json}]]
    calls a tool; the x-mac-sim-fault header forces a fault. See docs/simulator.md.
    Ctrl-C stops it.
    """
    from mac_core.cli import check_can_listen

    check_can_listen(host, port)
    if agent_workspace is not None:
        try:
            agent_workspace.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(
                f"cannot create {str(agent_workspace)!r}: {exc.strerror}", param_hint="'--agent-workspace'"
            ) from None
    from .server import serve

    settings = SimulatorSettings(
        tokens=tokens,
        token_delay=token_delay,
        ttft=ttft,
        seed=seed,
        fault_rate=fault_rate,
        faults=faults or RANDOM_FAULTS,
        slow_seconds=slow_seconds,
        batch_delay=batch_delay,
        agent_workspace=agent_workspace,
        allowed_origins=allowed_origins,
        rpm=rpm,
        itpm=itpm,
        otpm=otpm,
        model_limits=model_limits,
    )

    def announce(url: str) -> None:
        click.echo(
            f"mac sim: {url} (simulated model; set ANTHROPIC_BASE_URL={url} and any API key)", err=True
        )
        click.echo(f"  agent protocol: {url}/config and {'ws' + url[4:]}/ws; Ctrl-C to stop", err=True)
        if fault_rate:
            click.echo(
                f"  random faults: {fault_rate:g} of requests, from {', '.join(settings.faults)} "
                f"(seed {seed})",
                err=True,
            )
        if rpm or itpm or otpm or model_limits:
            click.echo(f"  rate limits: {_describe_limits(settings)}", err=True)
        if host not in ("127.0.0.1", "::1", "localhost"):
            click.echo(f"  warning: listening on {host}, reachable from other machines", err=True)

    serve(settings, host=host, port=port, announce=announce)
