"""A request example for every write operation of the API, by operation id.

`config.schema.ApiSchema` attaches them; `tests/api/test_schema_examples.py` checks
that every operation with a request body has one and that its own request schema
accepts it. Ids and hashes are placeholders of the right shape.
"""

from __future__ import annotations

from typing import Any

_INTERACTION = "6f1c2b7e-0c4a-4d3e-9a51-2f0b8c9d1e21"
_SQL = "SELECT count(*) FROM singer WHERE age > 30"
_AT = "2026-11-30T09:15:00Z"
_HASH = "9f2c4e1a7b3d5f60"

_interaction: dict[str, Any] = {
    "event_id": _INTERACTION,
    "trace_id": "trace-4b1d",
    "session_id": "session-81",
    "user_id": "user-17",
    "analyst_id": "analyst-3",
    "tenant_id": "acme",
    "task_type": "adhoc",
    "question": "How many singers are older than 30?",
    "generated_sql": _SQL,
    "prompt_version": 7,
    "model_version": 3,
    "retrieval_ids": ["schema:singer"],
    "knowledge_version": "kb-12",
    "output_tokens": 18,
    "input_tokens": 230,
    "reported_model": "gpt-4.1-2026-04",
    "client_latency_ms": 840,
    "server_latency_ms": 610,
    "outcome": "success",
    "country": "DE",
    "consent_scope": "improvement",
    "occurred_at": _AT,
}
_thumb: dict[str, Any] = {
    "event_id": "0b9e7d51-3f1a-4c62-8e0d-5a7b9c1d2e33",
    "interaction_id": _INTERACTION,
    "type": "thumbs_down",
    "comment": "It counted singers of every age.",
    "occurred_at": _AT,
}
_reason = {"reason": "Counted rows twice after the join; see the ticket DATA-142."}
_review = {"comment": "Gates pass and the failing items are understood.",
           "content_hash": _HASH}  # fmt: skip

# operation id -> (summary, request body)
REQUEST_EXAMPLES: dict[str, tuple[str, Any]] = {
    # registry
    "registry_templates_create": ("A template for one assistant task", {
        "name": "concerts", "description": "Questions about concerts and singers",
        "risk_tier": 2, "target_database": "concert_singer",
    }),
    "registry_prompt_versions_create": ("A new prompt version", {
        "template": "concerts",
        "template_text": "{schema}\nExamples:\n{examples}\nQuestion: {question}",
        "few_shot_examples": [{"question": "How many singers are there?",
                               "sql": "SELECT count(*) FROM singer"}],
        "parameters": {"dialect": "sqlite"},
        "changelog": "Adds an example with a join on concert",
    }),
    "registry_model_versions_create": ("A model behind an OpenAI-compatible endpoint", {
        "name": "gpt-sql-2026-11", "provider": "openai", "model_identifier": "gpt-4.1",
        "generation_parameters": {"temperature": 0}, "endpoint_name": "AZURE_EAST",
    }),
    # feedback
    "feedback_interactions_create": ("One assistant response", _interaction),
    "feedback_feedback_create": ("A thumbs-down with a comment", _thumb),
    "feedback_batch_create": ("An interaction and a thumb in one request", {
        "events": [{"kind": "interaction", **_interaction},
                   {"kind": "feedback", **_thumb}],
    }),
    "feedback_otlp_v1_traces_create": ("A GenAI span in OTLP JSON", {
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "loopgate.tenant_id", "value": {"stringValue": "acme"}},
                {"key": "loopgate.consent_scope",
                 "value": {"stringValue": "improvement"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4.1", "kind": 3,
                "startTimeUnixNano": "1764494100000000000",
                "endTimeUnixNano": "1764494100610000000",
                "attributes": [
                    {"key": "gen_ai.request.model",
                     "value": {"stringValue": "gpt-4.1"}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "18"}},
                    {"key": "gen_ai.input.messages", "value": {"stringValue":
                        '[{"role": "user", "parts": [{"type": "text", '
                        '"content": "How many singers are older than 30?"}]}]'}},
                    {"key": "loopgate.generated_sql", "value": {"stringValue": _SQL}},
                    {"key": "loopgate.template", "value": {"stringValue": "concerts"}},
                    {"key": "loopgate.user_id", "value": {"stringValue": "user-17"}},
                    {"key": "loopgate.task_type", "value": {"stringValue": "adhoc"}},
                ],
            }]}],
        }],
    }),
    "feedback_widget_create": ("A correction from the end user's widget", {
        "event_id": "5d2a1c3b-7e6f-4a80-9b1c-2d3e4f5a6b7c", "type": "correction",
        "corrected_sql": "SELECT count(*) FROM singer WHERE age > 30 AND is_male = 'T'",
        "occurred_at": _AT,
    }),
    "feedback_feedback_categorize_create": ("Move a comment to another category", {
        "topic": "slow", "reason": "The user complains about waiting, not the answer.",
    }),
    "feedback_guidelines_create": ("A new version of the review guidelines", {
        "text": "Approve a correction only when its result answers the question "
                "on the current data; prefer explicit joins.",
        "effective_at": _AT,
    }),
    "feedback_privacy_requests_create": ("A user's erasure request", {
        "kind": "erasure", "user_id": "user-17", "reference": "DSR-2026-0412",
    }),
    "feedback_calibration_answer_create": ("A calibration answer", {
        "verdict": "approve",
    }),
    "feedback_review_items_approve_create": ("Approve, with the SQL as reviewed", {
        "reason": "Result matches the question on the current data.", "sql": _SQL,
    }),
    "feedback_review_items_reject_create": ("Reject with the reason", {
        "reason": "The correction drops the age filter the question asks for.",
    }),
    "feedback_review_items_escalate_create": ("Escalate to a second reviewer", {
        "reason": "Two corrections disagree on whether 'older' means >= or >.",
    }),
    "feedback_review_items_verdict_create": ("A blind second review's verdict", {
        "verdict": "reject", "reason": "Same as the gold already in the set.",
    }),
    # evaluation
    "evaluation_target_databases_create": ("A SQLite target database", {
        "name": "concert_singer", "engine": "sqlite",
        "location": "spider/database/concert_singer/concert_singer.sqlite",
        "description": "Spider dev: concerts, singers and stadiums",
    }),
    "evaluation_golden_examples_create": ("A golden example", {
        "target_database": "concert_singer",
        "question": "How many singers are older than 30?", "sql": _SQL,
        "domain": "music", "tags": ["filter"],
    }),
    "evaluation_golden_examples_import_create": ("Import SQLite-written golds", {
        "items": [
            {"question": "How many singers are older than 30?", "sql": _SQL,
             "db": "concert_singer", "tags": ["filter"]},
            {"question": "Name the stadiums in France",
             "sql": 'SELECT name FROM stadium WHERE country = "France"',
             "db": "concert_singer"},
        ],
        "id_prefix": "handbook", "from_dialect": "sqlite", "skip_invalid": True,
    }),
    "evaluation_golden_examples_retire_create": ("Retire an outdated example", {
        "reason": "The age column was redefined in the November schema.",
    }),
    "evaluation_snapshots_create": ("Freeze the active examples of one database", {
        "name": "concerts-2026-11", "filter": {"target_database": "concert_singer"},
    }),
    "evaluation_runs_create": ("Evaluate the challenger on a snapshot", {
        "template": "concerts", "label": "challenger", "snapshot": 4,
    }),
    "evaluation_runs_cancel_create": ("Cancel a run", {
        "reason": "Started on the wrong snapshot.",
    }),
    # governance
    "governance_triggers_create": ("Open a decision for a known incident", {
        "template": "concerts", "reason": "Schema change in the concert table",
        "category": "other", "decision": "investigate",
    }),
    "governance_triggers_check_create": ("Check the triggers of one template", {
        "template": "concerts",
    }),
    "governance_decisions_create": ("Record a retraining decision", {
        "template": "concerts", "decision": "retrain",
        "rationale": "Negative feedback above threshold for two weeks.",
    }),
    "governance_promotions_create": ("Request a promotion of a run's pair", {
        "template": "concerts", "prompt_version": 8, "model_version": 3,
        "candidate_run": 41, "rationale": "Better on joins, no segment regresses.",
    }),
    "governance_promotions_edit_create": ("Point the request at a newer run", {
        "candidate_run": 42, "rationale": "Re-run on the refreshed snapshot.",
    }),
    "governance_promotions_approve_create": ("Approve as reviewed", _review),
    "governance_promotions_reject_create": ("Reject the request", {
        "comment": "The joins segment drops 4 points.", "content_hash": _HASH,
    }),
    "governance_promotions_override_create": ("Override a failing gate, with reason", {
        "reason": "Latency gate fails on a cold cache; measured 1.1 s warm.",
        "content_hash": _HASH,
    }),
    "governance_promotions_withdraw_create": ("Withdraw the request", {
        "reason": "Superseded by a newer candidate.", "content_hash": _HASH,
    }),
    "governance_promotions_risk_assessment_create": ("Answer the risk assessment", {
        "answers": {"impact": "Internal analysts only; reviewed before use.",
                    "mitigations": "Staged rollout and automatic rollback."},
        "content_hash": _HASH,
    }),
    "governance_circuit_breakers_reset_create": ("Reset a tripped breaker", _reason),
    "governance_rollouts_abort_create": ("Stop a rollout now", _reason),
    "governance_rollbacks_create": ("Roll production back to the previous pair", {
        "template": "concerts", "label_name": "production", **_reason,
    }),
    "governance_rollback_requests_create": ("Ask for a rollback (tiers 2 and 3)", {
        "template": "concerts", "label_name": "production", **_reason,
    }),
    "governance_holdout_baseline_requests_create": (
        "Re-base the holdout on production's pair", {
            "rationale": "Production v7 has served for a quarter; measure from it.",
        }),
}  # fmt: skip
