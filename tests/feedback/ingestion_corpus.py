"""A fixed corpus of batch events, valid and invalid, and what ingestion made of
it, as plain JSON: the snapshot that proves faster ingestion gives the same
results (tests/feedback/test_ingestion_snapshot.py).

Ids and timestamps are fixed; prompt and model version ids are the placeholders
PROMPT and MODEL, replaced by real ids when a database is involved.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("ingestion_snapshot.json")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AT = "2026-05-31T10:00:00+02:00"
PROMPT, MODEL = 101, 202
Event = dict[str, Any]


def uid(n: int) -> str:
    return str(uuid.UUID(int=n))


def interaction(n: int, **overrides: Any) -> Event:
    event: Event = {
        "kind": "interaction",
        "event_id": uid(n),
        "trace_id": f"t-{n}",
        "session_id": "s-1",
        "user_id": f"user-{n}",
        "analyst_id": "analyst-3",
        "tenant_id": "acme",
        "task_type": "adhoc",
        "question": f"How many singers are older than {n}?",
        "generated_sql": f"SELECT count(*) FROM singer WHERE age > {n}",  # noqa: S608
        "prompt_version": PROMPT,
        "model_version": MODEL,
        "retrieval_ids": ["doc-1"],
        "knowledge_version": "kb-7",
        "output_tokens": 12,
        "client_latency_ms": 840,
        "server_latency_ms": 610,
        "outcome": "success",
        "country": "DE",
        "consent_scope": "improvement",
        "occurred_at": AT,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def feedback(n: int, on: int, **overrides: Any) -> Event:
    event: Event = {
        "kind": "feedback",
        "event_id": uid(10_000 + n),
        "interaction_id": uid(on),
        "type": "thumbs_down",
        "submitter_role": "analyst",
        "occurred_at": AT,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def _interactions() -> list[Any]:
    i = interaction
    return [
        i(1),
        i(
            2,
            question="Wie viele Sänger gibt es? 🎤 \ufb01 \uff21\uff22\uff23",
            analyst_id=...,
        ),
        i(3, question="Mail ann@example.com or call +44 20 7946 0958 re 10.0.0.7"),
        i(4, question="Card 4111 1111 1111 1111, IBAN DE89370400440532013000?"),
        i(5, question="x" * 10_000, user_id="u" * 200, trace_id="t" * 100),
        i(6, question="x" * 10_001),
        i(7, user_id="u" * 201),
        i(8, trace_id="t" * 101),
        i(9, question="   "),
        i(10, question=""),
        i(11, question=None),
        i(12, question=...),
        i(13, question=42),
        i(14, question=["a"]),
        i(15, question="NUL \x00 inside"),
        i(16, question="lone \ud800 surrogate"),
        i(17, prompt_version="101"),
        i(18, prompt_version=1.5),
        i(19, prompt_version=101.0),
        i(20, prompt_version=True),
        i(21, prompt_version=0),
        i(22, prompt_version=2_147_483_648),
        i(23, prompt_version=10**30),
        i(24, output_tokens=-1),
        i(25, output_tokens=0, input_tokens=7, reported_model="gpt-x"),
        i(26, input_tokens=None, reported_model=""),
        i(27, outcome="great"),
        i(28, outcome=None),
        i(29, consent_scope="service_only", country="de"),
        i(30, country="DEU"),
        i(31, country=""),
        i(32, occurred_at="2026-05-31T10:00:00"),
        i(33, occurred_at="9999-01-01T00:00:00Z"),
        i(34, occurred_at="yesterday"),
        i(35, occurred_at=1_700_000_000),
        i(36, occurred_at="0001-01-01T00:00:00+14:00"),
        i(37, occurred_at="2026-05-31T10:00:00.123456-03:30"),
        i(38, retrieval_ids=["doc-1", "doc 2"]),
        i(39, retrieval_ids=["d"] * 101),
        i(40, retrieval_ids="doc-1"),
        i(41, retrieval_ids=[]),
        i(42, tenant_id="ac me"),
        i(43, task_type="ädhoc"),
        i(44, session_id=7),
        i(45, extra_field=1, **{"über": 2}),
        i(46, event_id="not-a-uuid"),
        i(47, event_id=None),
        i(48, event_id=uid(48).upper()),
        i(49, kind="feedback"),
        i(50, kind=["interaction"]),
        i(51, kind="other"),
        i(52, prompt_version=999_999),
        i(53, model_version=999_999),
        i(54, generated_sql="", knowledge_version=None, analyst_id=None),
        i(55, client_latency_ms=2_147_483_647, server_latency_ms=2_147_483_648),
        i(56, question="שלום, כמה זמרים? \u200f\u202e", user_id="ユーザー"),
        i(57, question="e\u0301 composed?", session_id="s" * 201),
        "not an object",
        ["a list"],
        None,
        i(1),  # replay inside the batch
        i(2, question="Another question?"),  # conflict inside the batch
    ]


def _feedback() -> list[Any]:
    f = feedback
    return [
        f(1, 1),
        f(2, 1, type="thumbs_up", topic="praise"),
        f(3, 1, type="thumbs_up", topic="wrong_answer"),
        f(4, 1, type="comment", comment="Wrong! mail bob@example.org"),
        f(5, 1, type="comment"),
        f(6, 1, type="copied", comment="no"),
        f(7, 1, type="time_to_first_action", value=1500),
        f(8, 1, type="time_to_first_action", value=-1),
        f(9, 1, type="time_to_first_action"),
        f(10, 1, type="outcome_metric", metric_name="rows_ok", value=0.5),
        f(11, 1, type="outcome_metric", value=1),
        f(12, 1, type="copied", value=1),
        f(13, 1, type="copied", metric_name="m"),
        f(14, 1, type="correction", corrected_sql="SELECT name FROM singer"),
        f(15, 1, type="correction", corrected_sql="DELETE FROM singer"),
        f(16, 1, type="correction", corrected_sql="SELECT 'ann@example.com' FRM"),
        f(17, 1, type="correction"),
        f(18, 1, type="thumbs_up", corrected_sql="SELECT 1"),
        f(19, 1, type="unknown_type"),
        f(20, 1, submitter_role="boss"),
        f(21, 1, submitter_role=...),
        f(22, 1, submitter_role=None),
        f(23, 1, submitter_id="sub-9", topic="slow"),
        f(24, 1, topic="nonsense"),
        f(25, 1, topic=3),
        f(26, 1, type="outcome_metric", metric_name="big", value=1e308),
        f(27, 1, type="time_to_first_action", value=10**400),
        f(28, 1, type="time_to_first_action", value="12"),
        f(29, 1, type="time_to_first_action", value=True),
        f(30, 6),  # its interaction is invalid
        f(31, 52),  # its interaction names an unknown prompt
        f(32, 9_999),  # unknown interaction
        f(33, 1, interaction_id="nope"),
        f(34, 1, comment="x" * 5_001, type="comment"),
        f(35, 1, comment="ok 😀" * 1_000, type="comment"),
        f(36, 1, kind="interaction"),
        f(37, 29, type="correction", corrected_sql="SELECT age FROM singer"),
        f(38, 2, type="retried"),
        f(1, 1),  # replay inside the batch
        f(2, 1, type="thumbs_down"),  # conflict inside the batch
    ]


def corpus() -> list[Any]:
    """Every event of the corpus, interactions first, as one batch."""
    return _interactions() + _feedback()


def with_versions(events: list[Any], prompt: int, model: int) -> list[Any]:
    """The corpus with PROMPT and MODEL replaced by real version ids."""
    swap = {PROMPT: prompt, MODEL: model}
    out = []
    for event in events:
        if isinstance(event, dict):
            event = dict(event)
            for name in ("prompt_version", "model_version"):
                value = event.get(name)
                if type(value) is int and value in swap:
                    event[name] = swap[value]
        out.append(event)
    return out


def typed(value: Any) -> Any:
    """A JSON value that keeps Python types apart (1 vs 1.0 vs "1")."""
    if isinstance(value, dict):
        return {str(k): typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    return [type(value).__name__, str(value)]


def load() -> dict[str, Any]:
    """The stored snapshot."""
    loaded: dict[str, Any] = json.loads(SNAPSHOT.read_text())
    return loaded
