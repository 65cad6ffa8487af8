"""Store the GenAI spans of an OTLP trace export as interactions.

The spans go through feedback.ingestion like batch events: the same redaction,
idempotency (the event id derived from trace and span id) and per-item rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser, User
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from feedback.ingestion import (
    CONFLICT,
    DUPLICATE,
    INVALID,
    MAX_BATCH,
    ingest_events,
)
from feedback.otlp import FIELD_SOURCES, PAIR, MappedSpan, map_request
from registry.models import Label
from registry.selectors import list_labels

logger = logging.getLogger(__name__)

# How many span problems the error message spells out; the rest are counted.
MAX_MESSAGES = 20


@dataclass(slots=True)
class SpanExportResult:
    """What an export came to, in OTLP's terms."""

    stored: int = 0
    replayed: int = 0
    rejected: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """OTLP partial_success.error_message: the rejections, then the skips."""
        parts = self.problems[:MAX_MESSAGES]
        if len(self.problems) > MAX_MESSAGES:
            parts.append(f"and {len(self.problems) - MAX_MESSAGES} more rejected")
        if self.skipped:
            spans = "span" if self.skipped == 1 else "spans"
            parts.append(f"{self.skipped} {spans} skipped: no gen_ai data")
        return "; ".join(parts)


def ingest_spans(
    *, request: ExportTraceServiceRequest, acting_user: User | AnonymousUser
) -> SpanExportResult:
    """Store each GenAI span of ``request`` as an interaction (channel `api`).

    For the API client ``acting_user``. Idempotent: a re-exported span is a
    replay and stores nothing. A span lacking its prompt/model version pair
    gets the production pair of its `loopgate.template`; without either it is
    rejected, as is any span the batch rules refuse; the others are stored.
    Spans without `gen_ai.*` data are skipped and only counted.
    """
    mapped = map_request(request)
    outcome = SpanExportResult(skipped=mapped.skipped)
    ready = _with_pairs(mapped.spans, outcome)
    for start in range(0, len(ready), MAX_BATCH):
        chunk = ready[start : start + MAX_BATCH]
        results = ingest_events(
            events=[span.event for span in chunk],
            acting_user=acting_user,
            channel="api",
            kind="interaction",
        )
        for span, result in zip(chunk, results, strict=True):
            if result.status in (INVALID, CONFLICT):
                _reject(outcome, span, _describe(result.errors))
            elif result.status == DUPLICATE:
                outcome.replayed += 1
            else:
                outcome.stored += 1
    logger.info(
        "otlp export: %d stored, %d replayed, %d rejected, %d skipped",
        outcome.stored,
        outcome.replayed,
        outcome.rejected,
        outcome.skipped,
    )
    return outcome


def _with_pairs(spans: list[MappedSpan], outcome: SpanExportResult) -> list[MappedSpan]:
    """The spans that have, or get from their template, a prompt/model pair."""
    wanted = {
        span.template
        for span in spans
        if span.template and not any(name in span.event for name in PAIR)
    }
    labels = list_labels().filter(name=Label.Name.PRODUCTION, template__name__in=wanted)
    production = {label.template.name: label for label in labels} if wanted else {}
    ready = []
    for span in spans:
        given = [name for name in PAIR if name in span.event]
        if len(given) == 1:
            missing = FIELD_SOURCES[PAIR[1] if given == [PAIR[0]] else PAIR[0]]
            _reject(outcome, span, f"{missing}: Set both versions, or neither.")
        elif given:
            ready.append(span)
        elif not span.template:
            _reject(
                outcome,
                span,
                "loopgate.prompt_version and loopgate.model_version are missing: "
                "set them, or loopgate.template to use its production pair.",
            )
        elif (label := production.get(span.template)) is None:
            _reject(
                outcome,
                span,
                f"loopgate.template: {span.template[:100]!r} has no production pair.",
            )
        elif problem := _other_model(span, label):
            _reject(outcome, span, problem)
        else:
            span.event["prompt_version"] = label.prompt_version_id
            span.event["model_version"] = label.model_version_id
            ready.append(span)
    return ready


def _other_model(span: MappedSpan, label: Label) -> str:
    """Why the span cannot be production's: it names another model.

    A session routed to the challenger reports its own model; storing it under
    production's pair would credit production with the challenger's answers.
    A dated snapshot (`gpt-4.1-2025-04-14`) matches its identifier (`gpt-4.1`).
    """
    expected = label.model_version.model_identifier
    if not span.model or not expected or span.model.startswith(expected):
        return ""
    return (
        f"gen_ai.response.model: {span.model[:100]!r} is not the production model "
        f"{expected!r} of {span.template!r}; set loopgate.prompt_version and "
        "loopgate.model_version."
    )


def _describe(errors: dict[str, list[str]]) -> str:
    # Spans are separated by "; " in the message, fields of one span by ", ".
    return ", ".join(
        f"{FIELD_SOURCES.get(name, name)}: {' '.join(messages)}"
        for name, messages in errors.items()
    )


def _reject(outcome: SpanExportResult, span: MappedSpan, problem: str) -> None:
    outcome.rejected += 1
    outcome.problems.append(f"span {span.span_ref}: {problem}")
