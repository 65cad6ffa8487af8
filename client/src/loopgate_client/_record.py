"""`Loopgate.record`: one assistant response, recorded in a `with` block."""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopgate_client._types import ConsentScope, LoopgateError, Outcome, Resolution

if TYPE_CHECKING:
    from loopgate_client._client import Loopgate

logger = logging.getLogger("loopgate_client")


class Recording:
    """Measures the block and records the response when it ends.

    Set `sql` to the generated SQL and, when it is not plain success,
    `outcome`; an exception escaping the block records `timeout` for a
    `TimeoutError`, `sql_error` otherwise, and still propagates. `event_id` is
    the resolution's `response_id`: hand it (and the resolution's
    `feedback_token`) to the page that shows the answer.
    """

    def __init__(
        self,
        client: Loopgate,
        resolution: Resolution,
        *,
        question: str,
        user_id: str,
        tenant_id: str,
        task_type: str,
        consent_scope: ConsentScope,
        fields: dict[str, Any],
    ) -> None:
        self.client = client
        self.resolution = resolution
        self.event_id = resolution.response_id
        self.question = question
        self.sql: str | None = None
        self.outcome: Outcome | None = None
        self.latency_ms: int | None = None
        self.user_id = user_id
        self.tenant_id = tenant_id
        self.task_type = task_type
        self.consent_scope: ConsentScope = consent_scope
        self.fields = fields
        self._started = 0.0

    def __enter__(self) -> Recording:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.latency_ms = round((time.perf_counter() - self._started) * 1000)
        outcome: Outcome = self.outcome or (
            "success"
            if exc is None
            else "timeout"
            if isinstance(exc, TimeoutError)
            else "sql_error"
        )
        fields = {"server_latency_ms": self.latency_ms, **self.fields}
        try:
            self.client.interaction(
                question=self.question,
                resolution=self.resolution,
                generated_sql=self.sql,
                outcome=outcome,
                user_id=self.user_id,
                tenant_id=self.tenant_id,
                task_type=self.task_type,
                consent_scope=self.consent_scope,
                **fields,
            )
        except LoopgateError:
            # Synchronous mode: the caller's own exception matters more.
            if exc is None:
                raise
            logger.exception("loopgate: response %s not recorded", self.event_id)
