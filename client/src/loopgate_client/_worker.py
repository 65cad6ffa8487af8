"""The background sender: a bounded queue and one thread that sends batches.

`submit` never blocks and never raises: when the queue is full the event is
dropped and counted. The thread starts on the first event (and again in a
forked child, which inherits no threads), sends a batch when `batch_size`
events are waiting or `flush_interval` seconds after the first one, and
retries through `Transport.deliver`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable

from loopgate_client._delivery import Transport, failed
from loopgate_client._types import Event, EventResult, Stats

logger = logging.getLogger("loopgate_client")

# Wakes the thread (flush, close) without being an event.
_WAKE: Event = {}
# A drop is logged at most this often; the count is always exact in `Stats`.
DROP_LOG_INTERVAL = 10.0


class Metrics:
    """Thread-safe counters behind `Stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(
            (
                "created",
                "duplicate",
                "invalid",
                "conflict",
                "failed",
                "dropped",
                "retries",
                "batches",
            ),
            0,
        )
        self._last_drop_log = -DROP_LOG_INTERVAL

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[name] += amount

    def record(self, results: Iterable[EventResult]) -> None:
        with self._lock:
            self.counts["batches"] += 1
            for result in results:
                self.counts[result.status] += 1
                if not result.stored:
                    # Ids and field names only: the payload may hold personal data.
                    logger.warning(
                        "loopgate: %s event %s %s: %s",
                        result.kind or "?",
                        result.event_id,
                        result.status,
                        result.errors,
                    )

    def drop(self, why: str) -> None:
        with self._lock:
            self.counts["dropped"] += 1
            now = time.monotonic()
            if now - self._last_drop_log >= DROP_LOG_INTERVAL:
                self._last_drop_log = now
                logger.warning(
                    "loopgate: event dropped (%s); %d dropped so far",
                    why,
                    self.counts["dropped"],
                )

    def snapshot(self, queued: int) -> Stats:
        with self._lock:
            return Stats(queued=queued, **self.counts)


class Worker:
    """Queue plus sending thread; one per client."""

    def __init__(
        self,
        transport: Transport,
        metrics: Metrics,
        *,
        batch_size: int,
        flush_interval: float,
        max_queue: int,
    ) -> None:
        self._transport = transport
        self._metrics = metrics
        self._batch_size = batch_size
        self._interval = flush_interval
        self._max_queue = max_queue
        self._start_lock = threading.Lock()
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.Queue[Event] = queue.Queue(self._max_queue)
        self._idle = threading.Condition()
        self._pending = 0
        self._hurry = 0
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def pending(self) -> int:
        """Events accepted and not yet settled (queued or being sent)."""
        return self._pending

    def submit(self, event: Event) -> bool:
        """Queue `event`; False (and counted) when it was dropped."""
        if self._closed:
            self._metrics.drop("the client is closed")
            return False
        self._ensure_thread()
        with self._idle:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self._metrics.drop(f"queue full at {self._max_queue} events")
                return False
            self._pending += 1
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid != os.getpid():
                self._reset()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="loopgate-client", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float | None) -> bool:
        """Send what is queued now; True when nothing is left unsettled."""
        if self._thread is None or self._pid != os.getpid():
            return self._pending == 0
        with self._idle:
            self._hurry += 1
        self._wake()
        try:
            with self._idle:
                return self._idle.wait_for(lambda: self._pending == 0, timeout)
        finally:
            with self._idle:
                self._hurry -= 1

    def close(self, timeout: float) -> None:
        """Flush within `timeout` seconds, then stop; later events are dropped."""
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return
        self._closing.set()
        self._wake()
        thread.join(timeout)
        if thread.is_alive():
            self._abort.set()
            self._wake()
            # The request in flight ends by its own timeout; not waited for.
            thread.join(0.5)
        if self._pending:
            logger.error(
                "loopgate: closed with %d events unsent",
                self._pending,
            )

    def _wake(self) -> None:
        # A full queue wakes the thread by itself.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_WAKE)

    def _wait(self, delay: float) -> bool:
        return not self._abort.wait(delay)

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch:
                self._deliver(batch)
            elif self._closing.is_set():
                return

    def _hurried(self) -> bool:
        return self._hurry > 0 or self._closing.is_set()

    def _collect(self) -> list[Event]:
        batch: list[Event] = []
        deadline: float | None = None
        while len(batch) < self._batch_size:
            try:
                if self._hurried():
                    # A short wait, not get_nowait: an idle flush must not spin.
                    item = self._queue.get(timeout=0 if batch else 0.05)
                elif deadline is None:
                    item = self._queue.get()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is _WAKE:
                continue
            batch.append(item)
            if deadline is None:
                deadline = time.monotonic() + self._interval
        return batch

    def _deliver(self, batch: list[Event]) -> None:
        if self._abort.is_set():
            results = failed(batch, "the client closed before sending it")
        else:
            try:
                results = self._transport.deliver(
                    batch,
                    wait=self._wait,
                    on_retry=lambda: self._metrics.add("retries"),
                )
            except Exception as exc:
                # Whatever went wrong, the thread lives on and the batch is counted.
                logger.exception("loopgate: a batch of %d events failed", len(batch))
                results = failed(batch, f"{type(exc).__name__}: {exc}")
        self._metrics.record(results)
        with self._idle:
            self._pending -= len(batch)
            self._idle.notify_all()
