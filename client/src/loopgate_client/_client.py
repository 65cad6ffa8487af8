"""`Loopgate`: resolve the pair to serve, record responses and their feedback."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx

from loopgate_client._delivery import (
    MAX_BATCH,
    RESOLVE_PATH,
    RetryPolicy,
    Transport,
)
from loopgate_client._record import Recording
from loopgate_client._types import (
    ConsentScope,
    Event,
    EventRejected,
    FeedbackType,
    Outcome,
    Resolution,
    Stats,
    SubmitterRole,
    Topic,
)
from loopgate_client._worker import Metrics, Worker

logger = logging.getLogger("loopgate_client")


def _timestamp(moment: datetime | None) -> str:
    if moment is None:
        return datetime.now(UTC).isoformat()
    # A naive time is taken as local time, as datetime.astimezone does.
    return moment.astimezone(UTC).isoformat()


def _event(kind: str, event_id: str | None, fields: dict[str, Any]) -> Event:
    event: Event = {"kind": kind, "event_id": event_id or str(uuid.uuid4())}
    event.update((name, value) for name, value in fields.items() if value is not None)
    return event


class Loopgate:
    """A Loopgate client for one server and API key; thread-safe, one per process.

    By default `interaction` and `feedback` only queue the event (bounded by
    `max_queue`) and return at once; a background thread sends batches of up to
    `batch_size` events at least every `flush_interval` seconds to `batch/`,
    retrying 429, 5xx, timeouts and network errors with backoff (honouring
    `Retry-After`) up to `max_retries` times (None: until closed). They never
    raise: failures are logged and counted in `stats()`. `close()` (also run at
    exit) sends what is queued, waiting at most `close_timeout` seconds.

    With `sync=True` each call sends its event before returning, with the same
    retries, and raises `EventRejected` when the server did not store it.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        sync: bool = False,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        max_retries: int | None = 10,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        close_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if max_queue < 1 or flush_interval < 0 or timeout <= 0:
            raise ValueError("max_queue, flush_interval and timeout must be positive")
        self.sync = sync
        self.close_timeout = close_timeout
        policy = RetryPolicy(
            max_retries=max_retries, backoff=backoff, max_backoff=max_backoff
        )
        self._transport = Transport(
            url=url,
            api_key=api_key,
            timeout=timeout,
            policy=policy,
            transport=transport,
        )
        self._metrics = Metrics()
        self._worker = Worker(
            self._transport,
            self._metrics,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
        )
        self._close_lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)

    # -- the request path -------------------------------------------------

    def resolve(
        self, template: str, session_id: str, *, timeout: float | None = None
    ) -> Resolution:
        """The pair to serve `session_id` on `template`, with the response id
        and widget token. Synchronous; raises `APIError` or `TransportError`
        (serve a fallback then)."""
        body = self._transport.get(
            RESOLVE_PATH, {"template": template, "session_id": session_id}, timeout
        )
        return Resolution.from_json(body, session_id=session_id)

    def interaction(
        self,
        *,
        question: str,
        user_id: str,
        tenant_id: str,
        task_type: str,
        outcome: Outcome,
        consent_scope: ConsentScope,
        resolution: Resolution | None = None,
        prompt_version: int | None = None,
        model_version: int | None = None,
        event_id: str | None = None,
        generated_sql: str | None = None,
        session_id: str | None = None,
        trace_id: str | None = None,
        analyst_id: str | None = None,
        retrieval_ids: list[str] | None = None,
        knowledge_version: str | None = None,
        output_tokens: int | None = None,
        input_tokens: int | None = None,
        reported_model: str | None = None,
        client_latency_ms: int | None = None,
        server_latency_ms: int | None = None,
        country: str | None = None,
        occurred_at: datetime | None = None,
    ) -> str:
        """Record one assistant response; returns its event id.

        With `resolution`, the pair, the session and the event id (its
        `response_id`) come from it unless given.
        """
        if resolution is not None:
            prompt_version = prompt_version or resolution.serve.prompt_version
            model_version = model_version or resolution.serve.model_version
            session_id = session_id or resolution.session_id
            event_id = event_id or resolution.response_id
        event = _event(
            "interaction",
            event_id,
            {
                "question": question,
                "user_id": user_id,
                "tenant_id": tenant_id,
                "task_type": task_type,
                "outcome": outcome,
                "consent_scope": consent_scope,
                "prompt_version": prompt_version,
                "model_version": model_version,
                "generated_sql": generated_sql,
                "session_id": session_id,
                "trace_id": trace_id,
                "analyst_id": analyst_id,
                "retrieval_ids": retrieval_ids,
                "knowledge_version": knowledge_version,
                "output_tokens": output_tokens,
                "input_tokens": input_tokens,
                "reported_model": reported_model,
                "client_latency_ms": client_latency_ms,
                "server_latency_ms": server_latency_ms,
                "country": country,
                "occurred_at": _timestamp(occurred_at),
            },
        )
        return self._send(event)

    def feedback(
        self,
        *,
        interaction_id: str,
        type: FeedbackType,
        comment: str | None = None,
        corrected_sql: str | None = None,
        metric_name: str | None = None,
        value: float | None = None,
        submitter_id: str | None = None,
        submitter_role: SubmitterRole | None = None,
        topic: Topic | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> str:
        """Record feedback on a response: thumbs, comment, correction (with
        `corrected_sql`), an implicit signal (edited, copied, retried, abandoned,
        escalated, time_to_first_action with `value` in ms) or an outcome metric
        (`metric_name`, `value`). Returns its event id."""
        event = _event(
            "feedback",
            event_id,
            {
                "interaction_id": interaction_id,
                "type": type,
                "comment": comment,
                "corrected_sql": corrected_sql,
                "metric_name": metric_name,
                "value": value,
                "submitter_id": submitter_id,
                "submitter_role": submitter_role,
                "topic": topic,
                "occurred_at": _timestamp(occurred_at),
            },
        )
        return self._send(event)

    def record(
        self,
        resolution: Resolution,
        *,
        question: str,
        user_id: str,
        tenant_id: str,
        task_type: str,
        consent_scope: ConsentScope,
        **fields: Any,
    ) -> Recording:
        """A context manager recording one response: set `sql` (and `outcome`,
        else success, or sql_error/timeout when an exception escapes) inside it;
        the latency is measured. Other `interaction` fields go in `fields`."""
        return Recording(
            self,
            resolution,
            question=question,
            user_id=user_id,
            tenant_id=tenant_id,
            task_type=task_type,
            consent_scope=consent_scope,
            fields=fields,
        )

    def _send(self, event: Event) -> str:
        event_id: str = event["event_id"]
        if not self.sync:
            self._worker.submit(event)
            return event_id
        [result] = self._transport.deliver(
            [event], wait=_sleep, on_retry=lambda: self._metrics.add("retries")
        )
        self._metrics.record([result])
        if not result.stored:
            raise EventRejected(result)
        return event_id

    # -- lifecycle and metrics --------------------------------------------

    def stats(self) -> Stats:
        """Counters since start: sent, refused, failed, dropped, retried."""
        return self._metrics.snapshot(queued=self._worker.pending)

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now and wait; True when everything is settled."""
        return self._worker.flush(timeout)

    def close(self) -> None:
        """Send what is queued (within `close_timeout`) and stop. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        try:
            self._worker.close(self.close_timeout)
        finally:
            self._transport.close()

    def __enter__(self) -> Loopgate:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _sleep(delay: float) -> bool:
    time.sleep(delay)
    return True
