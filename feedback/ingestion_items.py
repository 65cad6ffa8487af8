"""What ingestion tracks per submitted event, from validation to storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CREATED, DUPLICATE, INVALID, CONFLICT = "created", "duplicate", "invalid", "conflict"


@dataclass(slots=True)
class ItemResult:
    """What happened to one submitted event."""

    index: int
    kind: str
    event_id: str | None
    status: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    # What a single-event response renders without reading the row back.
    row: dict[str, Any] | None = field(default=None, repr=False)
    template_name: str = field(default="", repr=False)
    topic: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "kind": self.kind,
            "event_id": self.event_id,
            "status": self.status,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass(frozen=True, slots=True)
class Target:
    consent_scope: str
    template_id: int
    task_type: str
    question_hash: str
    target_database_id: int
    engine: str


@dataclass(slots=True)
class Pending:
    result: ItemResult
    clean: dict[str, Any]
    fingerprint: str
    # Column values by attname, ready for feedback.rows.insert_rows.
    row: dict[str, Any] | None = None
    target: Target | None = None


def mark_stored(item: Pending, stored_print: str) -> None:
    """Report an item whose id is already stored: a replay or a conflict."""
    if stored_print == item.fingerprint:
        item.result.status = DUPLICATE
    else:
        item.result.status = CONFLICT
        item.result.errors = {
            "event_id": ["This event id was already stored with another payload."]
        }


def reject(item: Pending, name: str, message: str) -> None:
    """Make ``item`` invalid with one error on field ``name``."""
    item.result.errors = {name: [message]}
