"""The server's vocabulary, the values the client returns, and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# The server's choices (feedback.events, feedback.categories), spelt the same.
Outcome = Literal[
    "success", "sql_error", "empty_result", "timeout", "refused", "not_executed"
]
ConsentScope = Literal["service_only", "improvement", "training"]
FeedbackType = Literal[
    "thumbs_up",
    "thumbs_down",
    "comment",
    "correction",
    "edited",
    "copied",
    "retried",
    "abandoned",
    "escalated",
    "time_to_first_action",
    "outcome_metric",
]
SubmitterRole = Literal[
    "senior_analyst", "ml_lead", "analyst", "ai_safety", "product", "end_user"
]
Topic = Literal[
    "wrong_answer", "slow", "confusing", "missing_feature", "praise", "safety"
]
# What became of one event: the server's four answers, or `failed` when the
# client gave up (retries exhausted, a refused request, closed while retrying).
Status = Literal["created", "duplicate", "invalid", "conflict", "failed"]
Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ServedPair:
    """A (prompt version, model version) pair as `resolve` names it."""

    label: str
    prompt_version: int
    prompt_version_number: int
    model_version: int
    model_version_name: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ServedPair:
        return cls(
            label=body["label"],
            prompt_version=body["prompt_version"],
            prompt_version_number=body["prompt_version_number"],
            model_version=body["model_version"],
            model_version_name=body["model_version_name"],
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """What to serve for one session, and the ids to record the response with.

    `response_id` becomes the interaction's `event_id`; `feedback_token` lets a
    page post feedback for that response only (the browser widget).
    """

    template: str
    session_id: str
    serve: ServedPair
    shadow: ServedPair | None
    response_id: str
    feedback_token: str
    feedback_token_expires_at: datetime

    @classmethod
    def from_json(cls, body: dict[str, Any], *, session_id: str) -> Resolution:
        shadow = body.get("shadow")
        return cls(
            template=body["template"],
            session_id=session_id,
            serve=ServedPair.from_json(body["serve"]),
            shadow=ServedPair.from_json(shadow) if shadow else None,
            response_id=body["response_id"],
            feedback_token=body["feedback_token"],
            feedback_token_expires_at=datetime.fromisoformat(
                body["feedback_token_expires_at"]
            ),
        )


@dataclass(frozen=True, slots=True)
class EventResult:
    """What became of one event; `errors` name the fields the server refused."""

    event_id: str | None
    kind: str
    status: Status
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def stored(self) -> bool:
        """True when the server holds the event (now, or from an earlier try)."""
        return self.status in ("created", "duplicate")


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters since the client started (a snapshot; read it as a metric).

    `dropped` counts events never queued (queue full, or client closed);
    `failed` counts queued events the client gave up on; `retries` counts
    requests sent again after a 429, a 5xx, a timeout or a network error.
    """

    queued: int
    created: int
    duplicate: int
    invalid: int
    conflict: int
    failed: int
    dropped: int
    retries: int
    batches: int


class LoopgateError(Exception):
    """Base of the errors the client raises (resolve, and the synchronous mode)."""


class APIError(LoopgateError):
    """The server answered with an error status."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"Loopgate answered {status_code}: {body}")
        self.status_code = status_code
        self.body = body


class TransportError(LoopgateError):
    """The server could not be reached or did not answer in time."""


class EventRejected(LoopgateError):
    """Synchronous mode: the server did not store the event (see `result`)."""

    def __init__(self, result: EventResult) -> None:
        fields = ", ".join(sorted(result.errors)) or "no detail"
        super().__init__(f"Event {result.event_id} {result.status}: {fields}")
        self.result = result
