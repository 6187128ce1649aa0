"""The hook specification: everything a plugin author needs to know.

A plugin is any module or object with functions decorated ``@hookimpl``
(``from mac_core import hookimpl``), named after the hooks below. A plugin
may implement any subset of them, and any subset of each hook's arguments
(pluggy passes arguments by name). Plugins arrive in two ways:

* installed: a distribution declares an entry point in group ``mac``::

      [project.entry-points.mac]
      my_plugin = "my_package.my_plugin"

  The built-in transports, policies and reporters are registered exactly so.

* per coordinator: ``Coordinator(plugins=[my_plugin, MyPolicy(...)])``.

Every hook runs on the engine's event loop thread, synchronously. Keep the
per-event hooks (``mac_task_event``, ``mac_should_interrupt``) fast: they are
called for every streamed event of every task. The rules every hook lives by:

* Hooks are plain functions. An ``async def`` implementation (or an async
  generator) is refused when the plugin is registered: ``TypeError`` naming
  the plugin and the hook (an installed plugin is logged and skipped instead).
* A plugin that raises inside any hook is logged with its name and skipped;
  it never breaks a task or a run. That includes ``SystemExit`` and
  ``asyncio.CancelledError``: neither stops the run. Only ``KeyboardInterrupt``
  on the main thread (the user's Ctrl-C, under the async API) goes through.
  To stop tasks or the run, return a decision from ``mac_should_interrupt``.
* A hook must not block. While it runs, no task progresses, no timeout fires
  and Ctrl-C cannot cancel the run. A hook (or a text callback) that has held
  the loop for over a second is named in a warning of logger
  ``mac_core.plugins`` while it still holds it. Under the sync API, a second
  Ctrl-C then ends the process at once with exit status 130 (files the plugin
  flushed stay written); under the async API the event loop is the caller's.

The objects passed to hooks (``Run``, ``Task``, ``Event``, ``TaskResult``) are
documented in :mod:`mac_core.run`, :mod:`mac_core.events` and
:mod:`mac_core.results`.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "mac"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# --- registration -----------------------------------------------------------


@hookspec
def mac_register_transports(register):
    """Register transports: call ``register(name, transport_class)``.

    Called once when a :class:`~mac_core.Coordinator` is created.

    :param register: ``register(name: str, transport_class)``; ``name`` is
        what users pass as ``transport=`` (``"stream"``, ``"messages"``…), and
        ``transport_class`` is a subclass of :class:`mac_core.Transport`,
        instantiated once per run with the run's
        :class:`~mac_core.ClientSettings`.

    If two plugins register the same name, the one called first wins (plugins
    passed to ``Coordinator(plugins=...)`` are called before installed ones)
    and the other is logged as shadowed.
    """


@hookspec
def mac_register_commands(cli):
    """Add subcommands to the ``mac`` command line.

    :param cli: the root :class:`click.Group`; decorate functions with
        ``@cli.command()`` to add commands.

    Called at every ``mac`` start, ``mac --help`` included: declare commands
    here and import heavy modules inside the command's body. A command whose
    options need heavy imports can be registered as
    ``mac_core.cli.LazyCommand(name, "module:command", summary=...)``: it is
    listed at once and imported when used.
    """


# --- progress callbacks (reporters) -----------------------------------------


@hookspec
def mac_run_started(run):
    """A run begins, before any task starts.

    :param run: the :class:`~mac_core.Run`: ``run.id``, ``run.tasks``,
        ``run.transport`` (name), ``run.usage`` (running totals).

    Use it to reset per-run state (a budget counter, a progress display).
    In an orchestration (``Coordinator.orchestrate``) the lead and each wave
    of workers are runs of their own, started while
    :func:`mac_core.task_tree.task_tree` returns their tree; a policy that
    counts over what the user started resets only when
    :func:`mac_core.task_tree.counting_scope` of the run changes, as the
    built-in ones do.
    """


@hookspec
def mac_task_started(task):
    """A task is about to send its request (it holds a concurrency slot).

    :param task: the :class:`~mac_core.Task`: ``task.index`` (its position in
        the prompts), ``task.name`` (a label, ``"task-3"`` unless given),
        ``task.prompt``, ``task.model``.
    """


@hookspec
def mac_task_waiting(task, seconds, limit):
    """A task waits for its model's rate limit before sending a request.

    :param task: the :class:`~mac_core.Task` (running: it holds a concurrency slot).
    :param seconds: how long it will wait (a float; the scheduler's estimate, at
        most until the bucket it waits for has refilled enough).
    :param limit: what it waits for: ``"requests per minute"``, ``"input
        tokens per minute"``, ``"output tokens per minute"`` or
        ``"retry-after"`` (a 429 or 529 held the model).

    Called once per wait, when it starts, and only when there is a wait: a run
    under no limit never calls it. A stop during the wait interrupts the task
    as usual (its request was never sent). Each round of a tool loop and each
    retry of a refused request may wait again.
    """


@hookspec
def mac_task_event(task, event):
    """One event of a running task, in the order the transport produced it.

    :param task: the :class:`~mac_core.Task`; ``task.text`` is the text
        received so far (this event included; cheap to read on every event),
        ``task.thinking`` the thinking so far, ``task.usage`` the latest usage.
    :param event: an :class:`~mac_core.Event`. ``event.type`` is one of
        :data:`mac_core.events.EVENT_TYPES`; text deltas have
        ``event.type == "text"`` and the chunk in ``event.text``; other events
        carry their payload in ``event.data``.

    Called for every event: keep it cheap. Once the task is stopped (by a
    policy, a token or the run), no later event of it is delivered here, to
    the policies or to its callback: the event that triggered the stop is its
    last.
    """


@hookspec
def mac_task_finished(task, result):
    """A task reached its terminal state.

    :param task: the :class:`~mac_core.Task`.
    :param result: its :class:`~mac_core.TaskResult`; ``result.status`` is one
        of ``completed``, ``interrupted``, ``cancelled``, ``failed``.

    Called exactly once per task, cancelled (never started) tasks included.
    """


@hookspec
def mac_run_finished(run, results):
    """A run ended; every task is terminal.

    :param run: the :class:`~mac_core.Run`; ``run.interrupt_reason`` says why
        it was stopped early, or is ``None``.
    :param results: the list of :class:`~mac_core.TaskResult`, in input order.
    """


# --- interrupt policies -----------------------------------------------------


@hookspec
def mac_should_interrupt(task, event, run):
    """Decide, on every event, whether to stop a task or the whole run.

    :param task: the :class:`~mac_core.Task` that produced the event
        (``task.text`` includes it).
    :param event: the :class:`~mac_core.Event`.
    :param run: the :class:`~mac_core.Run` (``run.usage`` holds run totals).
    :return: ``None`` or ``False`` to go on; ``True`` to stop the whole run;
        or ``Interrupt(reason="...", scope="run" | "task")``. Stopping a task
        cancels its request in flight (its text so far is kept, status
        ``interrupted``); stopping the run does that to every running task and
        starts no new one (those become ``cancelled``); in an orchestration,
        stopping any of its runs stops the lead and every worker.

    Every policy is asked about every event delivered (this is not a
    ``firstresult`` hook: a counting policy never misses an event because
    another asked for a stop); the first one to ask for a stop wins, and its
    reason is recorded in ``TaskResult.interrupt_reason`` and
    ``Run.interrupt_reason``. Policies are asked in pluggy's order: the last
    registered first. After a stop, the task's later events reach no policy.
    """


# --- rate limits --------------------------------------------------------------


@hookspec(firstresult=True)
def mac_rate_limit_scheduler(settings):
    """Provide the scheduler that admits every Messages API request of a run.

    :param settings: the run's :class:`~mac_core.rate_limits.RateLimitSettings`:
        ``account`` (a hash of the API key and base URL, never the key),
        ``limits`` (the :class:`~mac_core.rate_limits.RateLimits` given, by
        model; ``"*"`` for all) and ``redis_url`` (a :class:`~mac_core.Secret`, or ``None``).
    :return: a :class:`~mac_core.rate_limits.RequestScheduler`, or ``None`` to
        leave it to the next plugin and, last, to the built-in one (buckets in
        this process, or in Redis when ``redis_url`` is set).

    Called once per run that has a ``rate_limited`` transport (``stream``,
    ``messages``) and the scheduler on (``rate_limits`` is not ``False``),
    before any request. The first non-``None`` result wins. Return the same
    instance for the same ``settings`` if runs should share one budget (the
    built-in does). A plugin that raises here, or returns something that is
    not a ``RequestScheduler``, is logged and skipped.
    """
