"""The ``batch`` transport: tasks gathered into Message Batches, at half the price, answered within 24 h.

Each :meth:`BatchTransport.run_task` queues its request and waits for its
answer by taking turns with the other waiting tasks; nothing runs in the
background. The task holding the send lock sends the queue as a batch once no
task has arrived for ``flush_after`` seconds, once the oldest has waited
``max_batch_wait`` seconds, or once the batch is full (the API's 100,000
requests or 256 MB). One task of each batch at a time polls it, with an
interval that grows from poll to poll, reports its request counts as
``progress`` events, and when it has ended reads the results and hands each
to its task by ``custom_id``. An interrupted task gives its turn to the next.

Transport options (``transport_options=``, :class:`.options.BatchOptions`,
checked before anything is sent): ``poll_interval`` (1 s, the first wait),
``max_poll_interval`` (30 s), ``flush_after`` (0.2 s), ``max_batch_wait``
(5 s), ``cancel_timeout`` (10 s) and ``state_file``: a JSON file recording
which batch holds each request, so a re-run after a crash polls those batches
instead of sending (and paying for) the requests again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anyio

from mac_core import Completion, Event, Transport, TransportError, hookimpl
from mac_core.anthropic_api import (
    MESSAGES_TASK_OPTIONS,
    emit_message,
    make_client,
    messages_request,
    transport_error,
)
from mac_core.events import PROGRESS
from mac_core.pricing import cost_usd
from mac_core.run import Task
from mac_core.transport import Emit

from .options import BatchOptions
from .requests import CustomIds, digest, wire_size
from .state import BatchStateFile

log = logging.getLogger("mac_plugins.batch")

ENVELOPE_BYTES = len(b'{"requests":[]}')
POLL_GROWTH = 1.5  #: each wait for a batch is this much longer than the last, up to ``max_poll_interval``
MAX_POLL_FAILURES = 5  #: consecutive failed polls (after the SDK's own retries) before its tasks fail


@dataclass(eq=False)
class _Waiter:
    """One task waiting for its answer from a batch.

    :ivar outcome: ``(message, batch_id)`` or the :class:`TransportError` it
        ends with; ``None`` while it waits.
    :ivar left: its task was interrupted; nobody waits for its answer any more.
    """

    task: Task
    custom_id: str
    request: dict[str, Any]
    size: int
    digest: str
    emit: Emit = field(repr=False)
    outcome: tuple[Any, str] | TransportError | None = None
    left: bool = False
    batch: _Batch | None = None
    resumed: bool = False  # found in the state file: anything but a success is sent again

    @property
    def waiting(self) -> bool:
        """True while its task still waits for an answer."""
        return self.outcome is None and not self.left

    def fail(self, error: TransportError) -> None:
        """End it with ``error``, unless it has ended already."""
        if self.waiting:
            self.outcome = error


@dataclass(eq=False)
class _Batch:
    """A batch on the far side and the tasks of this run waiting for it."""

    id: str
    waiters: dict[str, _Waiter] = field(default_factory=dict)
    cancel_sent: bool = False
    last_progress: dict[str, Any] | None = None
    polling: anyio.Lock = field(default_factory=anyio.Lock, repr=False)  # one of its tasks polls at a time
    next_poll_at: float = 0.0  # the first poll is at once
    delay: float = 0.0
    failures: int = 0

    def live(self) -> list[_Waiter]:
        """The waiters still waiting."""
        return [w for w in self.waiters.values() if w.waiting]


class BatchTransport(Transport):
    """Sends tasks through the Message Batches API (``client.messages.batches``).

    ``batches = True`` makes the engine start every task at once, whatever
    ``max_concurrency`` says: the API queues them, and a batch only pays off
    when it holds many. Answers arrive whole (no streaming), minutes to hours
    later on the real API, at half the price of the Messages API; each
    result's ``cost_usd`` is priced so. Interrupting every task of a batch
    cancels the batch (requests already answered are still billed).

    No work runs in the background: the waiting tasks take turns sending the
    queue (one at a time, under a lock) and polling each batch (one task of
    the batch at a time), so an interrupted task hands its turn to the next
    and nothing outlives the run.
    """

    name = "batch"
    streams = False
    needs_api_key = True
    batches = True
    bills_tokens = True
    # A batch request has no headers of its own.
    task_options = MESSAGES_TASK_OPTIONS - {"extra_headers"}

    max_batch_requests: ClassVar[int] = 100_000  #: the API's limit on requests in one batch
    max_batch_bytes: ClassVar[int] = 256 * 1000 * 1000  #: the API's limit on one batch's body
    options_type = BatchOptions

    async def open(self) -> None:
        self._options: BatchOptions = self.settings.options
        state_file = self._options.state_file
        self._state = BatchStateFile(state_file) if state_file is not None else None
        if self._state is not None:
            try:
                self._state.save()  # a file that cannot be written fails the run here, before anything is paid
            except OSError as exc:
                raise TransportError(
                    f"cannot write the batch state file {self._state.path}: {exc.strerror or exc}") from None
        self._client = make_client(self.settings, streaming=False)
        self._ids = CustomIds()
        self._queue: list[_Waiter] = []
        self._first_arrival = self._last_arrival = 0.0
        self._sending = anyio.Lock()  # one task at a time sends the queue
        self._creating: tuple[anyio.CancelScope, list[_Waiter]] | None = None
        self._followed: dict[str, _Batch] = {}

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await self._client.close()

    async def run_task(self, task, emit):
        params = messages_request(task)
        custom_id = self._ids.assign(task)
        request = {"custom_id": custom_id, "params": params}
        waiter = _Waiter(task, custom_id, request, wire_size(request), digest(params), emit)
        if waiter.size + ENVELOPE_BYTES > self.max_batch_bytes:
            raise TransportError(f"request of {waiter.size:,} bytes exceeds a batch's {self.max_batch_bytes:,} bytes",
                                 error_type="request_too_large")
        known = self._state.batch_of(custom_id, waiter.digest) if self._state else None
        if known is not None:
            waiter.resumed = True
            waiter.batch = self._follow(known)
            waiter.batch.waiters[custom_id] = waiter
        else:
            self._enqueue(waiter)
        try:
            while waiter.outcome is None:
                await self._take_turn(waiter)
        except anyio.get_cancelled_exc_class():
            await self._abandon(waiter)
            raise
        if isinstance(waiter.outcome, TransportError):
            raise waiter.outcome
        message, batch_id = waiter.outcome
        return _deliver(task, message, batch_id, emit)

    async def _take_turn(self, waiter: _Waiter) -> None:
        """Send the queue if ``waiter`` is in it, else poll its batch once; each under its lock."""
        batch = waiter.batch
        if batch is None:
            async with self._sending:
                if waiter.batch is None and waiter.outcome is None:  # the task before us may have sent it
                    await self._send_when_due()
        else:
            async with batch.polling:
                if waiter.batch is batch and waiter.outcome is None:  # a resend moves it to the queue
                    await self._poll(batch)

    # -- gathering tasks into batches ------------------------------------------------------------

    def _enqueue(self, waiter: _Waiter) -> None:
        now = anyio.current_time()
        if not self._queue:
            self._first_arrival = now
        self._last_arrival = now
        self._queue.append(waiter)

    async def _send_when_due(self) -> None:
        """Wait until the queue is due, then send its front as one batch."""
        while True:
            self._queue = [w for w in self._queue if w.waiting]
            if not self._queue:
                return
            count = self._batch_length()
            now = anyio.current_time()
            quiet, waited = now - self._last_arrival, now - self._first_arrival
            full = count < len(self._queue) or count == self.max_batch_requests
            flush_after, max_wait = self._options.flush_after, self._options.max_batch_wait
            if full or (quiet >= flush_after or waited >= max_wait):
                break
            await anyio.sleep(min(flush_after - quiet, max_wait - waited))
        group, self._queue = self._queue[:count], self._queue[count:]
        self._first_arrival = now
        try:
            await self._create(group)
        except Exception as exc:  # a bug here must fail the tasks, not leave them waiting
            log.exception("creating a batch failed")
            _fail(group, TransportError(f"{type(exc).__name__}: {exc}"))

    def _batch_length(self) -> int:
        """How many queued requests, from the front, fit in one batch."""
        size, count = ENVELOPE_BYTES, 0
        for waiter in self._queue:
            if count == self.max_batch_requests or size + waiter.size > self.max_batch_bytes:
                break
            size += waiter.size
            count += 1
        return count

    async def _create(self, group: list[_Waiter]) -> None:
        # The SDK is imported when a batch is sent: loading the plugin (every `mac` start) stays fast.
        import anthropic

        # Shielded: an interrupt lands after the batch exists, so it is cancelled rather than orphaned.
        with anyio.CancelScope(shield=True) as creating:
            self._creating = (creating, group)
            try:
                created = await self._client.messages.batches.create(requests=[w.request for w in group])
            except anthropic.APIError as exc:
                _fail(group, transport_error(exc))
                return
            finally:
                self._creating = None
        if creating.cancelled_caught:
            log.warning("creating a batch for %d interrupted requests timed out; it may exist", len(group))
            _fail(group, TransportError("creating the batch timed out after an interrupt"))
            return
        log.debug("batch %s created with %d requests", created.id, len(group))
        batch = _Batch(created.id, delay=self._options.poll_interval)
        for waiter in group:
            waiter.batch = batch
            batch.waiters[waiter.custom_id] = waiter
        if self._state is not None:
            try:
                self._state.record(batch.id, {w.custom_id: w.digest for w in group})
            except OSError as exc:  # unrecorded, a resume would pay again: cancel it while nothing has run
                log.error("could not record batch %s in %s: %s; cancelling it", batch.id, self._state.path, exc)
                await self._cancel(batch)
                _fail(group, TransportError(
                    f"batch {batch.id} was cancelled: it could not be recorded in {self._state.path} "
                    f"({exc.strerror or exc}), so a resume would have paid for it again", request_id=batch.id))
                return
        if not batch.live():  # every task was interrupted while the batch was being created
            await self._cancel(batch)
            return
        self._followed[batch.id] = batch

    # -- following batches to their end ----------------------------------------------------------

    def _follow(self, batch_id: str) -> _Batch:
        """The batch ``batch_id`` as followed by this run, polled from now on if it was not yet."""
        batch = self._followed.get(batch_id)
        if batch is None:
            batch = self._followed[batch_id] = _Batch(batch_id, delay=self._options.poll_interval)
        return batch

    async def _poll(self, batch: _Batch) -> None:
        """Retrieve ``batch`` once it is due; when it has ended, hand out its results."""
        import anthropic

        await anyio.sleep_until(batch.next_poll_at)
        if not batch.live():
            return
        try:
            info = await self._client.messages.batches.retrieve(batch.id)
            self._report(batch, info)
            if info.processing_status == "ended":
                await self._collect(batch)
                return
            batch.failures = 0
        except anthropic.NotFoundError as exc:
            self._settle_unanswered(batch, transport_error(exc))
            return
        except anthropic.APIError as exc:
            batch.failures += 1
            log.warning("polling batch %s failed (%d in a row): %s", batch.id, batch.failures, exc)
            if batch.failures >= MAX_POLL_FAILURES:
                self._settle_unanswered(batch, transport_error(exc))
                return
        except Exception as exc:  # a bug here must fail the tasks, not leave them waiting
            log.exception("following batch %s failed", batch.id)
            self._settle_unanswered(batch, TransportError(f"{type(exc).__name__}: {exc}", request_id=batch.id))
            return
        batch.next_poll_at = anyio.current_time() + batch.delay
        batch.delay = min(batch.delay * POLL_GROWTH, self._options.max_poll_interval)

    def _report(self, batch: _Batch, info: Any) -> None:
        """Emit the batch's request counts to each task waiting for it, when they changed."""
        progress = {"batch_id": batch.id, "processing_status": info.processing_status,
                    **info.request_counts.model_dump()}
        if progress == batch.last_progress:
            return
        batch.last_progress = progress
        for waiter in batch.live():
            waiter.emit(Event(PROGRESS, data=dict(progress)))

    async def _collect(self, batch: _Batch) -> None:
        """Read an ended batch's results and resolve each waiting task by ``custom_id``."""
        async for item in await self._client.messages.batches.results(batch.id):
            waiter = batch.waiters.get(item.custom_id)
            if waiter is None or not waiter.waiting:
                continue  # a request of another run, a task that was interrupted, or one read before
            result = item.result
            if result.type == "succeeded":
                waiter.outcome = (result.message, batch.id)
            elif waiter.resumed:
                self._resend(waiter)
            else:
                waiter.outcome = _result_error(result, batch.id)
        # No await from here on: a resumed task cannot join this batch between its results and its end.
        self._settle_unanswered(batch, TransportError(f"batch {batch.id} ended without a result for this request",
                                                      request_id=batch.id))

    def _settle_unanswered(self, batch: _Batch, error: TransportError) -> None:
        """The batch is done with: send resumed tasks again; fail the others with ``error``."""
        self._followed.pop(batch.id, None)
        for waiter in batch.live():
            if waiter.resumed:
                self._resend(waiter)
            else:
                waiter.fail(error)

    def _resend(self, waiter: _Waiter) -> None:
        """Queue a resumed task for a new batch: its old one holds no answer for it."""
        waiter.batch.waiters.pop(waiter.custom_id)
        waiter.batch, waiter.resumed = None, False
        self._enqueue(waiter)

    # -- interrupts ------------------------------------------------------------------------------

    async def _abandon(self, waiter: _Waiter) -> None:
        """An interrupted task leaves; the last to leave a running batch cancels it."""
        waiter.left = True
        if self._creating is not None:
            creating, group = self._creating
            if waiter in group and not any(w.waiting for w in group):
                # Nobody waits for the batch being created: its creation may take only so long.
                creating.deadline = min(creating.deadline, anyio.current_time() + self._options.cancel_timeout)
        batch = waiter.batch
        if batch is not None and not batch.cancel_sent and not batch.live():
            self._followed.pop(batch.id, None)
            await self._cancel(batch)

    async def _cancel(self, batch: _Batch) -> None:
        """Ask the API to cancel ``batch``: shielded from the interrupt, bounded by ``cancel_timeout``."""
        import anthropic

        batch.cancel_sent = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._options.cancel_timeout):
            try:
                await self._client.messages.batches.cancel(batch.id)
                log.debug("batch %s cancelled", batch.id)
            except anthropic.APIError as exc:
                log.warning("cancelling batch %s failed: %s", batch.id, exc)


def _deliver(task: Task, message: Any, batch_id: str, emit: Emit) -> Completion:
    """Emit a batch answer's events, as the ``messages`` transport does, and build its completion."""
    usage = emit_message(message, emit)
    return Completion(usage=usage, stop_reason=message.stop_reason, request_id=batch_id,
                      cost_usd=cost_usd(task.model, usage, batch=True))


def _result_error(result: Any, batch_id: str) -> TransportError:
    """The error of a request that did not succeed: ``errored``, ``canceled`` or ``expired``."""
    if result.type == "errored":
        error = result.error.error
        return TransportError(f"{error.type}: {error.message} (batch {batch_id})", error_type=error.type,
                              request_id=batch_id)
    if result.type == "canceled":
        return TransportError(f"canceled: batch {batch_id} was cancelled before this request ran",
                              error_type="canceled", request_id=batch_id)
    if result.type == "expired":
        return TransportError(f"expired: batch {batch_id} did not reach this request within 24 hours",
                              error_type="expired", request_id=batch_id)
    return TransportError(f"unknown result type {result.type!r} in batch {batch_id}", request_id=batch_id)


def _fail(waiters: list[_Waiter], error: TransportError) -> None:
    """End every waiter of ``waiters`` still waiting with ``error``."""
    for waiter in waiters:
        waiter.fail(error)


@hookimpl
def mac_register_transports(register):
    register("batch", BatchTransport)
