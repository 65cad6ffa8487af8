"""One batch to `batch/`: retried on 429, 5xx, timeouts and network errors.

Events keep their ids across retries, so a retry of a batch the server did
store (its answer was lost) comes back `duplicate`, never as a second row.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from loopgate_client._types import (
    APIError,
    Event,
    EventResult,
    Status,
    TransportError,
)

logger = logging.getLogger("loopgate_client")

BATCH_PATH = "/api/v1/feedback/batch/"
RESOLVE_PATH = "/api/v1/registry/resolve/"
# The server's limit on events per batch request.
MAX_BATCH = 1_000
JSON_HEADERS = {"Content-Type": "application/json"}
# A Retry-After longer than this is waited for this long, then retried.
MAX_RETRY_AFTER = 300.0
_STATUSES = frozenset(("created", "duplicate", "invalid", "conflict"))

Wait = Callable[[float], bool]
"""Sleeps for a delay; returns False when the client must stop retrying."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; `max_retries=None` retries until stopped."""

    max_retries: int | None = 10
    backoff: float = 0.5
    max_backoff: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try `attempt + 1`; the server's Retry-After wins."""
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        # Jitter spreads the retries of many clients after one outage.
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 (not a secret)
        return ceiling * jitter

    def exhausted(self, attempt: int) -> bool:
        return self.max_retries is not None and attempt >= self.max_retries


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _encode(events: list[Event]) -> bytes:
    """The batch body; ValueError when a value has no JSON form (NaN, a set)."""
    try:
        return json.dumps({"events": events}, allow_nan=False).encode()
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def _retryable(status_code: int) -> bool:
    return status_code in (408, 425, 429) or status_code >= 500


def failed(events: list[Event], reason: str) -> list[EventResult]:
    return [
        EventResult(
            event.get("event_id"),
            str(event.get("kind", "")),
            "failed",
            {"non_field_errors": [reason]},
        )
        for event in events
    ]


def _parse(response: httpx.Response, events: list[Event]) -> list[EventResult] | None:
    """Per-event results of a 200, or None when the body is not the server's."""
    try:
        body = response.json()
        items = body["results"]
        if not isinstance(items, list) or len(items) != len(events):
            return None
        results = []
        for event, item in zip(events, items, strict=True):
            status: Status = item["status"]
            if status not in _STATUSES:
                return None
            results.append(
                EventResult(
                    item.get("event_id") or event.get("event_id"),
                    item.get("kind") or str(event.get("kind", "")),
                    status,
                    dict(item.get("errors") or {}),
                )
            )
        return results
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json())[:500]
    except ValueError:
        return response.text[:200]


class Transport:
    """The HTTP side: one `httpx.Client` per process, batch delivery, resolve."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        timeout: float,
        policy: RetryPolicy,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.policy = policy
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": "loopgate-client/0.1",
        }
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None
        self._pid = 0

    def http(self) -> httpx.Client:
        # A forked worker (gunicorn --preload) must not share its parent's sockets.
        if self._client is None or self._pid != os.getpid():
            self._client = httpx.Client(
                base_url=self.url,
                headers=self._headers,
                timeout=self._timeout,
                transport=self._transport,
            )
            self._pid = os.getpid()
        return self._client

    def get(self, path: str, params: dict[str, Any], timeout: float | None) -> Any:
        """GET a JSON body; APIError or TransportError otherwise."""
        try:
            response = self.http().get(
                path, params=params, timeout=timeout or self._timeout
            )
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise APIError(response.status_code, _detail(response))
        return response.json()

    def deliver(
        self, events: list[Event], *, wait: Wait, on_retry: Callable[[], None]
    ) -> list[EventResult]:
        """Send `events` until the server answers for each one, or give up.

        A 413 splits the batch in halves; other 4xx answers are final.
        """
        try:
            body = _encode(events)
        except ValueError:
            return self._deliver_encodable(events, wait=wait, on_retry=on_retry)
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self.http().post(
                    BATCH_PATH, content=body, headers=JSON_HEADERS
                )
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                code = response.status_code
                if code == 200:
                    results = _parse(response, events)
                    if results is not None:
                        return results
                    reason = "the batch answer was not Loopgate's"
                elif code == 413 and len(events) > 1:
                    half = len(events) // 2
                    first = self.deliver(events[:half], wait=wait, on_retry=on_retry)
                    rest = self.deliver(events[half:], wait=wait, on_retry=on_retry)
                    return first + rest
                elif _retryable(code):
                    reason = f"HTTP {code}"
                    header = response.headers.get("Retry-After")
                    retry_after = retry_after_seconds(header)
                else:
                    return failed(events, f"HTTP {code}: {_detail(response)}")
            if self.policy.exhausted(attempt):
                return failed(events, f"gave up after {attempt + 1} tries: {reason}")
            delay = self.policy.delay(attempt, retry_after)
            logger.info(
                "loopgate: %d events not sent (%s); retrying in %.1fs",
                len(events),
                reason,
                delay,
            )
            on_retry()
            if not wait(delay):
                return failed(events, f"stopped while retrying: {reason}")
            attempt += 1

    def _deliver_encodable(
        self, events: list[Event], *, wait: Wait, on_retry: Callable[[], None]
    ) -> list[EventResult]:
        """One value JSON cannot carry fails its own event, not the batch."""
        good, bad = [], []
        for event in events:
            try:
                _encode([event])
            except ValueError as exc:
                bad.extend(failed([event], f"not JSON: {exc}"))
            else:
                good.append(event)
        sent = self.deliver(good, wait=wait, on_retry=on_retry) if good else []
        return sent + bad

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None
