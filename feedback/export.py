"""The wide export: one row per interaction with its feedback and outcomes.

Written for a window of `occurred_at` (UTC, [start, end)) as CSV and JSON Lines
plus a manifest (row count, content hash, window, schema version). Interactions
with consent scope `service_only` are never exported, nor are the interactions
and feedback of people who withdrew consent. Files are written to a
temporary name and renamed, so a reader never sees a half-written export.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from feedback.consent import consented_feedback, consented_interactions
from feedback.models import Feedback, Interaction

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
COUNTED: tuple[str, ...] = ("thumbs_up", "thumbs_down", "comment", "correction")
COUNTED += ("edited", "copied", "retried", "abandoned", "escalated")
COLUMNS: tuple[str, ...] = (
    "event_id", "occurred_at", "received_at", "trace_id", "session_id",
    "user_pseudonym", "analyst_pseudonym", "tenant_id", "task_type", "template",
    "prompt_version", "model_version", "question", "question_hash",
    "generated_sql", "retrieval_ids", "knowledge_version", "output_tokens",
    "client_latency_ms", "server_latency_ms", "outcome", "country",
    "consent_scope", "redaction_flags",
    *(f"n_{name}" for name in COUNTED),
    "feedback_weight", "comments", "latest_correction", "time_to_first_action_ms",
    "outcome_metrics",
)  # fmt: skip


class ExportWindow(TypedDict):
    start: datetime
    end: datetime


def previous_day(now: datetime | None = None) -> ExportWindow:
    """The UTC day before `now`, as export_window arguments."""
    today = (now or timezone.now()).astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=1), time.min, tzinfo=UTC)
    return {"start": start, "end": start + timedelta(days=1)}


def _row(interaction: Interaction) -> dict[str, Any]:
    signals = sorted(interaction.feedback.all(), key=lambda f: (f.occurred_at, f.pk))
    counts = dict.fromkeys(COUNTED, 0)
    metrics: dict[str, float | None] = {}
    comments, correction, first_action = [], "", None
    for signal in signals:
        if signal.type in counts:
            counts[signal.type] += 1
        if signal.comment:
            comments.append(signal.comment)
        if signal.corrected_sql:
            correction = signal.corrected_sql
        if signal.type == Feedback.Type.TIME_TO_FIRST_ACTION and first_action is None:
            first_action = signal.value
        if signal.type == Feedback.Type.OUTCOME_METRIC:
            metrics[signal.metric_name] = signal.value
    i = interaction
    return {
        "event_id": str(i.event_id),
        "occurred_at": i.occurred_at.isoformat(),
        "received_at": i.received_at.isoformat(),
        "trace_id": i.trace_id,
        "session_id": i.session_id,
        "user_pseudonym": i.user_pseudonym,
        "analyst_pseudonym": i.analyst_pseudonym,
        "tenant_id": i.tenant_id,
        "task_type": i.task_type,
        "template": i.template.name,
        "prompt_version": i.prompt_version_id,
        "model_version": i.model_version_id,
        "question": i.question,
        "question_hash": i.question_hash,
        "generated_sql": i.generated_sql,
        "retrieval_ids": i.retrieval_ids,
        "knowledge_version": i.knowledge_version,
        "output_tokens": i.output_tokens,
        "client_latency_ms": i.client_latency_ms,
        "server_latency_ms": i.server_latency_ms,
        "outcome": i.outcome,
        "country": i.country,
        "consent_scope": i.consent_scope,
        "redaction_flags": i.redaction_flags,
        **{f"n_{name}": count for name, count in counts.items()},
        "feedback_weight": round(sum(s.weight for s in signals), 6),
        "comments": comments,
        "latest_correction": correction,
        "time_to_first_action_ms": first_action,
        "outcome_metrics": metrics,
    }


def iter_rows(*, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Wide rows of consented interactions in [start, end), oldest first."""
    interactions = (
        consented_interactions(
            Interaction.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        )
        .exclude(consent_scope=Interaction.ConsentScope.SERVICE_ONLY)
        .select_related("template")
        .prefetch_related(
            Prefetch(
                "feedback", queryset=consented_feedback(Feedback.objects.order_by())
            )
        )
        .order_by("occurred_at", "event_id")
    )
    for interaction in interactions.iterator(chunk_size=2000):
        yield _row(interaction)


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "" if value is None else value


def _write(path: Path, data: bytes) -> str:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


class _HashedFile:
    """A temporary file that hashes what it receives and is renamed when done."""

    def __init__(self, path: Path) -> None:
        self.path, self.tmp = path, path.with_suffix(path.suffix + ".tmp")
        self.handle = self.tmp.open("wb")
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.hash.update(data)

    def commit(self) -> str:
        self.handle.close()
        self.tmp.replace(self.path)
        return self.hash.hexdigest()


def export_window(
    *, start: datetime, end: datetime, directory: Path | None = None
) -> dict[str, Any]:
    """Write CSV, JSON Lines and a manifest for [start, end); return the manifest.

    Streams rows to disk. Idempotent for a window whose events are all in: a
    rerun rewrites the same bytes (late feedback changes the content hash, which
    is what the hash is for).
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be aware datetimes with start < end")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    name = f"{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}"
    folder = (directory or Path(settings.DATA_DIR) / "exports") / name
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = _HashedFile(folder / "interactions.jsonl")
    table = _HashedFile(folder / "interactions.csv")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in iter_rows(start=start, end=end):
        jsonl.write(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        jsonl.write(b"\n")
        writer.writerow({key: _csv_value(value) for key, value in row.items()})
        table.write(text.getvalue().encode())
        text.seek(0)
        text.truncate()
        count += 1
    table.write(text.getvalue().encode())
    content_hash = jsonl.commit()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "row_count": count,
        # The hash of the JSON Lines file: one canonical form of the rows.
        "content_hash": content_hash,
        "columns": list(COLUMNS),
        "excluded_consent_scopes": [Interaction.ConsentScope.SERVICE_ONLY.value],
        "excludes_consent_withdrawn": True,
        "files": {
            "interactions.jsonl": content_hash,
            "interactions.csv": table.commit(),
        },
    }
    _write(
        folder / "manifest.json",
        json.dumps(manifest, indent=2, sort_keys=True).encode(),
    )
    manifest["path"] = str(folder)
    logger.info("exported %d interactions to %s", count, folder)
    return manifest
