"""What every engine sandbox shares: limits, the result, the errors, the protocol.

Two limits every engine needs the same way live here: the total size of a result,
counted while fetching (rows x values do not bound memory: 400 rows of a 1 MB blob
are 400 MB before anyone hashes them), and a deadline enforced from outside the
running statement (SQLite's progress handler is not called inside a sort or a
window step), by a watchdog thread that calls the engine's interrupt.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_RESULT_BYTES = 16 * 1024 * 1024
MAX_VALUE_LENGTH = 1_000_000
MAX_SQL_LENGTH = 100_000
RESULT_TOO_LARGE = "result too large"


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one query; ``truncated`` is set when more than ``max_rows`` existed."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: float


class SandboxError(Exception):
    """Base class for every failure to produce a query result."""


class QueryTimeout(SandboxError):
    """The query ran past its deadline and was stopped by the engine."""


class QueryRefused(SandboxError):
    """The engine refused the statement (not authorized, several statements...)."""


class ResultTooLarge(SandboxError):
    """The result passed the byte cap while it was fetched; fetching stopped."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"{RESULT_TOO_LARGE} (over {max_bytes} bytes)")
        self.max_bytes = max_bytes


class QueryFailed(SandboxError):
    """The statement is valid input but failed in the engine (bad column...)."""


class SandboxMisconfigured(SandboxError):
    """The sandbox cannot guarantee its boundary (e.g. the role can write)."""


def refuse_unusable_text(sql: str) -> None:
    """Refuse SQL too long to read or holding a NUL (QueryRefused), before any
    engine sees it: drivers truncate at a NUL or fail on it in their own ways."""
    if len(sql) > MAX_SQL_LENGTH:
        raise QueryRefused(f"SQL longer than {MAX_SQL_LENGTH} characters")
    if "\x00" in sql:
        raise QueryRefused("SQL contains a NUL character")


class Sandbox(Protocol):
    """What scoring needs from an engine: run one query, get rows or an error."""

    engine: str

    def run(
        self,
        sql: str,
        *,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        max_bytes: int | None = None,
    ) -> QueryResult:
        """Run ``sql``; return its (possibly truncated) result or raise SandboxError.

        More than ``max_rows`` rows truncates the result; more than ``max_bytes``
        bytes raises ResultTooLarge.
        """
        ...

    def close(self) -> None:
        """Release the engine connection."""
        ...


# --- the byte cap -------------------------------------------------------------

_FIRST_BATCH = 16
_MAX_BATCH = 1_000


def value_size(value: Any) -> int:
    """Bytes a fetched value holds in this process (what the cap counts)."""
    return sys.getsizeof(value)


def row_size(row: Sequence[Any]) -> int:
    """Bytes a fetched row holds: the tuple and each of its values."""
    return sys.getsizeof(row) + sum(map(sys.getsizeof, row))


def fetch_within(
    fetchmany: Callable[[int], Sequence[Sequence[Any]]],
    *,
    max_rows: int,
    max_bytes: int,
) -> tuple[list[tuple[Any, ...]], bool]:
    """Fetch at most ``max_rows`` rows (plus one to tell truncation) within a cap.

    Returns the rows and whether more than ``max_rows`` existed; raises
    ResultTooLarge as soon as the rows fetched so far pass ``max_bytes``. Batches
    are sized from the rows seen so far, so that one batch cannot overshoot the
    remaining budget by more than a few rows.
    """
    rows: list[tuple[Any, ...]] = []
    total = 0
    batch = _FIRST_BATCH
    wanted = max_rows + 1
    while len(rows) < wanted:
        chunk = fetchmany(min(batch, wanted - len(rows)))
        if not chunk:
            break
        for row in chunk:
            total += row_size(row)
            rows.append(tuple(row))
        if total > max_bytes:
            raise ResultTooLarge(max_bytes)
        average = max(1, total // len(rows))
        batch = max(1, min(_MAX_BATCH, (max_bytes - total) // average))
    truncated = len(rows) > max_rows
    if truncated:
        del rows[max_rows:]
    return rows, truncated


# --- the deadline -------------------------------------------------------------


class Watchdog:
    """One daemon thread that calls an engine's interrupt when a deadline passes.

    ``arm`` returns a ticket; ``disarm`` with it before the statement's cursor is
    reused. A callback runs at most once and never after its ticket was disarmed
    (both happen under one lock), so an interrupt cannot hit the next statement.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._callbacks: dict[int, Callable[[], object]] = {}
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, interrupt: Callable[[], object]) -> int:
        """Call ``interrupt`` at ``deadline`` (time.monotonic) unless disarmed."""
        with self._lock:
            ticket = next(self._tickets)
            self._callbacks[ticket] = interrupt
            # The thread sleeps until the heap's earliest deadline: wake it only when
            # this one is sooner. Waking it for every query cost a GIL hand-off each.
            sooner = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, ticket))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="sandbox-watchdog", daemon=True
                )
                self._thread.start()
            elif sooner:
                self._lock.notify()
            return ticket

    def disarm(self, ticket: int) -> None:
        """Forget ``ticket``; its interrupt will not be called from now on."""
        with self._lock:
            self._callbacks.pop(ticket, None)

    def _loop(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._callbacks:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, ticket = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                callback = self._callbacks.pop(ticket)
                # A closed connection has nothing left to interrupt.
                with contextlib.suppress(Exception):
                    callback()


WATCHDOG = Watchdog()
