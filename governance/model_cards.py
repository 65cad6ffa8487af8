"""Model cards: what every promotion request carries, generated from stored data.

A card holds the (prompt, model) pair and its lineage, the intended use and
target database, evaluation results per segment with Wilson 95% intervals, the
error-class profile, known limitations, the online shadow comparison, the
gates, the risk assessment and the approvals. It is regenerated while the
request is pending (a new version only when the content changed) and written a
last time, `final`, in the transaction that decides the request; after that
`write_card` refuses. The retraining cycle supplies lineage through
`register_lineage_provider` (it stands above this module).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from audit.services import record_event
from evaluation.error_taxonomy import CLASSIFIER_VERSION, classify_correction
from evaluation.models import EvaluationResult, EvaluationRun
from evaluation.statistics import wilson_interval
from feedback.models import ReviewItem
from governance import gates, risk
from governance.exceptions import GovernanceError
from governance.models import ModelCard, PromotionRequest
from governance.tiers import rule_for
from registry.content import content_hash
from registry.models import ModelVersion, PromptVersion
from targets.schema import sqlglot_schema

SCHEMA_VERSION = 1
MAX_CLASSIFIED_FAILURES = 300
LineageProvider = Callable[[PromotionRequest], dict[str, Any] | None]
_PROVIDERS: list[LineageProvider] = []


def register_lineage_provider(provider: LineageProvider) -> None:
    """Let a higher layer say where a request's pair came from (idempotent)."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def _lineage(request: PromotionRequest) -> dict[str, Any] | None:
    for provider in _PROVIDERS:
        found = provider(request)
        if found is not None:
            return found
    return None


def _prompt(version: PromptVersion) -> dict[str, Any]:
    parent = version.parent
    return {
        "id": version.pk,
        "number": version.number,
        "content_hash": version.content_hash,
        "author": version.author.get_username(),
        "created_at": version.created_at.isoformat(),
        "few_shot_examples": len(version.few_shot_examples or []),
        "changelog": version.changelog,
        "parent": (
            {"id": parent.pk, "number": parent.number, "hash": parent.content_hash}
            if parent is not None
            else None
        ),
    }


def _model(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "name": version.name,
        "provider": version.provider,
        "model_identifier": version.model_identifier,
        "generation_parameters": version.generation_parameters,
        "content_hash": version.content_hash,
    }


def _accuracy(block: dict[str, Any]) -> dict[str, Any]:
    accuracy, n = block.get(gates.PRIMARY_METRIC), block.get("n") or 0
    if accuracy is None or not n:
        return {"accuracy": accuracy, "n": n, "interval": None}
    interval = wilson_interval(round(accuracy * n), n)
    return {
        "accuracy": round(accuracy, 4),
        "n": n,
        "interval": [round(v, 4) for v in interval] if interval else None,
    }


def _evaluation(request: PromotionRequest) -> dict[str, Any] | None:
    run = request.candidate_run
    if run is None:
        return None
    summary, champion = run.summary or {}, request.champion_run
    champ = (champion.summary if champion else {}) or {}
    segments = {}
    for name, block in sorted(summary.get("segments", {}).items()):
        before = champ.get("segments", {}).get(name, {}).get(gates.PRIMARY_METRIC)
        segments[name] = {**_accuracy(block), "production": before}
    return {
        "metric": gates.PRIMARY_METRIC,
        "candidate_run": run.pk,
        "champion_run": champion.pk if champion else None,
        "golden_snapshot": run.snapshot_id,
        "mode": run.mode,
        "overall": {
            **_accuracy(summary.get("overall", {})),
            "production": champ.get("overall", {}).get(gates.PRIMARY_METRIC),
        },
        "segments": segments,
        "interval": "Wilson score, 95%",
    }


def _limitations(
    request: PromotionRequest, evaluation: dict[str, Any] | None
) -> list[dict[str, Any]]:
    if evaluation is None:
        return [{"kind": "not_evaluated", "detail": "no evaluation run"}]
    policy = gates.policy_for(request.template)
    found = []
    for name, row in evaluation["segments"].items():
        if row["accuracy"] is not None and row["accuracy"] < policy.card_accuracy_floor:
            found.append(
                {
                    "kind": "below_threshold",
                    "segment": name,
                    "detail": f"{row['accuracy']:.1%} < "
                    f"{policy.card_accuracy_floor:.0%} execution accuracy",
                }
            )
        if row["n"] < policy.card_min_segment_examples:
            found.append(
                {
                    "kind": "underpowered",
                    "segment": name,
                    "detail": f"{row['n']} golden items < "
                    f"{policy.card_min_segment_examples}; 95% interval "
                    f"{row['interval']}",
                }
            )
    return found


def _remaining_errors(run: EvaluationRun) -> dict[str, Any]:
    """Error classes of the candidate's failed golden items (capped)."""
    failed = (
        EvaluationResult.objects.filter(run=run, scored=True, execution_match=False)
        .select_related("golden_example__target_database")
        .order_by("pk")
    )
    counts: Counter[str] = Counter()
    total = failed.count()
    for result in failed[:MAX_CLASSIFIED_FAILURES]:
        target = result.golden_example.target_database
        classes = classify_correction(
            result.predicted_sql,
            result.golden_example.sql,
            dialect=target.dialect,
            schema=sqlglot_schema(target.schema or {}),
        ).classes
        counts.update(classes)
    return {
        "failed_items": total,
        "classified": min(total, MAX_CLASSIFIED_FAILURES),
        "by_class": dict(counts.most_common()),
    }


def _error_profile(
    request: PromotionRequest, lineage: dict[str, Any] | None
) -> dict[str, Any]:
    used: Counter[str] = Counter()
    ids = (lineage or {}).get("corrections_used", [])
    for taxonomy in ReviewItem.objects.filter(pk__in=ids).values_list(
        "error_taxonomy", flat=True
    ):
        used.update(taxonomy.get("classes", []))
    return {
        "classifier_version": CLASSIFIER_VERSION,
        "corrections_used": dict(used.most_common()),
        "remaining_errors": _remaining_errors(request.candidate_run)
        if request.candidate_run is not None
        else None,
    }


def _assessment(request: PromotionRequest) -> dict[str, Any] | None:
    row = risk.current_assessment(request)
    if row is None:
        return None
    return {
        "fields": row.fields,
        "answers": row.answers,
        "author": row.author.get_username(),
        "role": row.role,
        "written_at": row.created_at.isoformat(),
        "content_hash": row.content_hash,
    }


def build_card(request: PromotionRequest) -> dict[str, Any]:
    """The card's content from what the system holds now (no side effects)."""
    template, decision = request.template, request.decision
    lineage = _lineage(request)
    evaluation = _evaluation(request)
    rule = rule_for(request.tier)
    return {
        "schema_version": SCHEMA_VERSION,
        "request": request.pk,
        "kind": request.kind,
        "status": request.status,
        "label": request.label_name,
        "requested_by": (
            request.requested_by.get_username() if request.requested_by else "system"
        ),
        "rationale": request.rationale,
        "intended_use": {
            "template": template.name,
            "description": template.description,
            "owner": template.owner.get_username(),
            "risk_tier": request.tier,
            "target_database": {
                "name": template.target_database.name,
                "engine": template.target_database.engine,
            },
        },
        "pair": {
            "prompt": _prompt(request.prompt_version),
            "model": _model(request.model_version),
        },
        "lineage": lineage or {"source": "requested by a person, not a cycle"},
        "decision": {
            "sequence": decision.sequence,
            "decision": decision.decision,
            "rationale": decision.rationale,
        },
        "evaluation": evaluation,
        "error_profile": _error_profile(request, lineage),
        "known_limitations": _limitations(request, evaluation),
        "online_comparison": (lineage or {}).get("online_comparison"),
        "gates": request.gates,
        "override_reason": request.override_reason,
        "risk_assessment_rule": rule.risk_assessment,
        "risk_assessment": _assessment(request),
        "approvals": [
            {"username": a.approver.get_username(), "role": a.role}
            for a in request.approvals.filter(
                content_hash=request.content_hash, verdict="approve"
            ).select_related("approver")
        ],
    }


def current_card(request: PromotionRequest) -> ModelCard | None:
    """The latest card version of a request."""
    return ModelCard.objects.filter(request=request).order_by("-version").first()


def card_ref(card: ModelCard) -> dict[str, Any]:
    """How a decision log entry points at a card (hash-chained with it)."""
    return {
        "id": card.pk,
        "request": card.request_id,
        "version": card.version,
        "content_hash": card.content_hash,
    }


def write_card(request: PromotionRequest, *, final: bool = False) -> ModelCard:
    """Store the card if its content changed; `final` when the request is decided.

    Callers hold the request's row lock (or just created it). After the final
    card, nothing more is written: refused with a 400. Records
    `governance.model_card.written`.
    """
    if ModelCard.objects.filter(request=request, final=True).exists():
        raise GovernanceError(
            f"The model card of request #{request.pk} is final: it was decided."
        )
    content = build_card(request)
    digest = content_hash(content)
    latest = current_card(request)
    if latest is not None and latest.content_hash == digest and not final:
        return latest
    card = ModelCard.objects.create(
        request=request,
        version=latest.version + 1 if latest else 1,
        content=content,
        content_hash=digest,
        final=final,
    )
    record_event(
        event_type="governance.model_card.written",
        actor=None,
        subject=request,
        data={"version": card.version, "final": final, "content_hash": digest},
    )
    return card
