"""Model backends: the chat endpoint over real HTTP, the retrieval baseline, SQL
extraction and example selection."""

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.backends import backend_for
from evaluation.backends.chat import ChatCompletionsBackend
from evaluation.backends.prompts import extract_sql, select_examples
from evaluation.backends.retrieval import OfflineRetrievalBackend
from evaluation.backends.similarity import nearest, tokens
from evaluation.exceptions import BackendConfigurationError
from evaluation.models import EvaluationRun
from feedback.ingestion import ingest_events
from registry.models import Label, PromptVersion
from registry.services import register_model_version
from targets.models import TargetDatabase
from tests.evaluation.chat_server import Reply, answer_from, chat_server
from tests.evaluation.runs.run_fixtures import add_goldens, finished_run, snapshot_of

SCHEMA = {
    "singer": ["Singer_ID", "Name", "Country", "Age"],
    "stadium": ["Stadium_ID", "Name", "Capacity"],
}
EXAMPLES = [
    {"question": "How many singers do we have?", "sql": "SELECT count(*) FROM singer"},
    {
        "question": "What is the maximum capacity of all stadiums?",
        "sql": "SELECT max(capacity) FROM stadium",
    },
    {
        "question": "Show all countries and the number of singers in each country.",
        "sql": "SELECT country, count(*) FROM singer GROUP BY country",
    },
]
TEMPLATE = "Schema:\n{schema}\nExamples:\n{examples}\nQuestion: {question}\nSQL:"


def chat_backend(url: str, **overrides: object) -> ChatCompletionsBackend:
    options: dict[str, object] = {
        "base_url": url,
        "api_key": "sk-test",
        "model": "tiny-sql",
        "template_text": TEMPLATE,
        "prompt_parameters": {"max_examples": 1},
        "examples": EXAMPLES,
        "example_database": "concert_singer",
        "generation_parameters": {"temperature": 0, "neighbours": 3},
        "timeout_s": 5.0,
        "max_attempts": 3,
        "backoff_s": 0.01,
    }
    options.update(overrides)
    return ChatCompletionsBackend(**options)  # type: ignore[arg-type]


def test_prompt_holds_schema_the_most_similar_example_and_the_question() -> None:
    question = "What is the total number of singers?"
    with chat_server(answer_from({question: "SELECT count(*) FROM singer"})) as srv:
        result = chat_backend(srv.url).generate(
            question, database="concert_singer", schema=SCHEMA
        )
    assert result.ok and result.sql == "SELECT count(*) FROM singer"
    assert result.attempts == 1
    (body,) = srv.requests
    system, user = body["messages"]
    assert system["role"] == "system" and "SQLite" in system["content"]
    assert "singer(Singer_ID, Name, Country, Age)" in user["content"]
    assert "stadium(Stadium_ID, Name, Capacity)" in user["content"]
    assert "SQL: SELECT count(*) FROM singer" in user["content"]
    # max_examples=1: only the nearest example, not the stadium one.
    assert "max(capacity)" not in user["content"]
    assert user["content"].endswith(f"Question: {question}\nSQL:")
    assert body["model"] == "tiny-sql" and body["temperature"] == 0
    assert "neighbours" not in body  # not an API parameter
    assert srv.headers[0]["authorization"] == "Bearer sk-test"


def test_questions_on_another_database_get_no_few_shot_examples() -> None:
    with chat_server(answer_from({})) as srv:
        chat_backend(srv.url).generate(
            "How many singers?", database="pets_1", schema={"pets": ["id"]}
        )
    user = srv.requests[0]["messages"][1]["content"]
    assert "Examples:\n\nQuestion:" in user


def test_rate_limits_are_retried_with_backoff_and_counted() -> None:
    calls = []

    def respond(body: dict) -> Reply:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            return Reply(status=429, headers={"Retry-After": "0.05"})
        return Reply(content="```sql\nSELECT 1\n```")

    with chat_server(respond) as srv:
        result = chat_backend(srv.url).generate("q", database="x", schema={})
    assert result.ok and result.sql == "SELECT 1"
    assert result.attempts == 3 and len(srv.requests) == 3
    # Retry-After (50 ms) was honoured between attempts.
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.05


def test_persistent_rate_limit_is_recorded_after_the_last_attempt() -> None:
    with chat_server(lambda body: Reply(status=429)) as srv:
        result = chat_backend(srv.url).generate("q", database="x", schema={})
    assert not result.ok
    assert result.error_kind == "rate_limited" and result.attempts == 3
    assert "HTTP 429" in result.error and "after 3 attempts" in result.error
    assert len(srv.requests) == 3


def test_server_errors_are_retried_then_recorded() -> None:
    with chat_server(lambda body: Reply(status=500, content="boom")) as srv:
        result = chat_backend(srv.url, max_attempts=2).generate(
            "q", database="x", schema={}
        )
    assert result.error_kind == "server_error" and result.attempts == 2
    assert "HTTP 500" in result.error and len(srv.requests) == 2


def test_timeouts_are_retried_then_recorded_within_the_deadline() -> None:
    started = time.monotonic()
    with chat_server(lambda body: Reply(content="SELECT 1", delay_s=1.0)) as srv:
        result = chat_backend(srv.url, timeout_s=0.2, max_attempts=2).generate(
            "q", database="x", schema={}
        )
        elapsed = time.monotonic() - started
        assert len(srv.requests) == 2
    assert result.error_kind == "timeout" and result.attempts == 2
    assert elapsed < 1.0 + 0.5


def test_client_errors_are_not_retried() -> None:
    with chat_server(lambda body: Reply(status=400, content="bad model")) as srv:
        result = chat_backend(srv.url).generate("q", database="x", schema={})
    assert result.error_kind == "http_400" and result.attempts == 1
    assert len(srv.requests) == 1


def test_a_reply_without_sql_is_recorded_as_a_bad_response() -> None:
    with chat_server(lambda body: Reply(content="   ")) as srv:
        result = chat_backend(srv.url).generate("q", database="x", schema={})
    assert result.error_kind == "bad_response" and not result.sql


def test_unreachable_endpoint_is_a_connection_error() -> None:
    with chat_server(lambda body: Reply()) as srv:
        url = srv.url
    result = chat_backend(url, max_attempts=2).generate("q", database="x", schema={})
    assert result.error_kind == "connection" and result.attempts == 2


@pytest.mark.parametrize(
    ("reply", "sql"),
    [
        ("```sql\nSELECT a FROM t;\n```", "SELECT a FROM t"),
        ("Sure!\n```\nSELECT 1\n```\nDone.", "SELECT 1"),
        ("```python\nprint(1)\n```\n```sql\nSELECT 2\n```", "SELECT 2"),
        ("SQL: SELECT name FROM singer", "SELECT name FROM singer"),
        ("  SELECT 3;  ", "SELECT 3"),
        ("", ""),
    ],
)
def test_sql_is_extracted_from_fenced_or_plain_replies(reply: str, sql: str) -> None:
    assert extract_sql(reply) == sql


def test_similarity_prefers_the_paraphrase_and_is_deterministic() -> None:
    questions = [e["question"] for e in EXAMPLES]
    assert nearest("How many singers are there?", questions, 1) == [0]
    assert nearest("number of singers for each country", questions, 1) == [2]
    assert nearest("zzz", questions, 2) == [0, 1]  # no overlap: stable order
    assert tokens("The Singers' countries?") == ["singer", "countrie"]
    chosen = select_examples("biggest stadium capacity", EXAMPLES, 2)
    assert chosen[0] is EXAMPLES[1]


def test_retrieval_answers_with_the_nearest_examples_sql() -> None:
    backend = OfflineRetrievalBackend(
        examples=EXAMPLES, example_database="concert_singer"
    )
    result = backend.generate(
        "How many singers are from each country?",
        database="concert_singer",
        schema=SCHEMA,
    )
    assert result.ok and result.sql == EXAMPLES[2]["sql"]
    other = backend.generate("How many pets?", database="pets_1", schema={})
    assert other.error_kind == "no_example" and not other.sql


def test_openai_model_version_without_endpoint_variables_is_refused(
    prompt_v1: PromptVersion, ml_lead: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = register_model_version(
        name="gpt-local",
        provider="openai",
        model_identifier="tiny-sql",
        generation_parameters={"temperature": 0},
        endpoint_name="LOCAL_TEST",
        acting_user=ml_lead,
    )
    monkeypatch.delenv("LOOPGATE_ENDPOINT_LOCAL_TEST_URL", raising=False)
    with pytest.raises(BackendConfigurationError) as err:
        backend_for(prompt_version=prompt_v1, model_version=model)
    assert err.value.field == "model_version"
    assert "LOOPGATE_ENDPOINT_LOCAL_TEST_URL" in err.value.message


def test_openai_backend_reads_url_and_key_from_the_named_endpoint(
    prompt_v1: PromptVersion,
    target_db: TargetDatabase,
    ml_lead: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = register_model_version(
        name="gpt-local",
        provider="openai",
        model_identifier="tiny-sql",
        generation_parameters={"temperature": 0.1},
        endpoint_name="LOCAL_TEST",
        acting_user=ml_lead,
    )
    with chat_server(answer_from({"How many singers?": "SELECT 42"})) as srv:
        monkeypatch.setenv("LOOPGATE_ENDPOINT_LOCAL_TEST_URL", srv.url)
        monkeypatch.setenv("LOOPGATE_ENDPOINT_LOCAL_TEST_KEY", "sk-from-env")
        backend = backend_for(prompt_version=prompt_v1, model_version=model)
        result = backend.generate(
            "How many singers?", database=target_db.name, schema=target_db.schema
        )
    assert result.sql == "SELECT 42"
    assert srv.headers[0]["authorization"] == "Bearer sk-from-env"
    user = srv.requests[0]["messages"][1]["content"]
    assert "singer_in_concert(" in user  # the captured schema of the target
    assert "SELECT count(*) FROM singer" in user  # prompt_v1's example


def test_replay_scores_the_sql_production_generated_for_the_pair(
    production: Label, target_db: TargetDatabase, analyst: User, ml_lead: User
) -> None:
    goldens = add_goldens(target_db)
    pair = {
        "prompt_version": production.prompt_version_id,
        "model_version": production.model_version_id,
    }

    def event(question: str, sql: str, minutes: int, **extra: Any) -> dict[str, Any]:
        return {
            "kind": "interaction",
            "event_id": str(uuid.uuid4()),
            "user_id": "u-1",
            "tenant_id": "acme",
            "task_type": "adhoc",
            "question": question,
            "generated_sql": sql,
            "server_latency_ms": 600 + minutes,
            "outcome": "success",
            "consent_scope": "improvement",
            "occurred_at": (timezone.now() - dt.timedelta(minutes=minutes)).isoformat(),
            **pair,
            **extra,
        }

    results = ingest_events(
        events=[
            # The same question (other case and punctuation): an older wrong
            # answer, then the latest right one.
            event("what is the TOTAL number of singers", "SELECT 1", 10),
            event(goldens[0].question, goldens[0].sql, 1),
            event(goldens[1].question, "SELECT name FROM singer", 1),
            # Consent limited to running the service: never replayed.
            event(goldens[2].question, goldens[2].sql, 1, consent_scope="service_only"),
        ],
        acting_user=analyst,
        channel="api",
    )
    assert {r.status for r in results} == {"created"}
    replay = register_model_version(
        name="replay-knn-1",
        provider="replay",
        model_identifier=production.model_version.name,
        generation_parameters={},
        endpoint_name="",
        acting_user=ml_lead,
    )
    backend = backend_for(
        prompt_version=production.prompt_version, model_version=replay
    )
    latest = backend.generate(goldens[0].question, database="x", schema={})
    assert latest.sql == goldens[0].sql and latest.latency_ms == 601.0
    refused = backend.generate(goldens[2].question, database="x", schema={})
    assert refused.error_kind == "no_interaction"
    run = finished_run(production.prompt_version, replay, snapshot_of(goldens))
    assert run.status == EvaluationRun.Status.SUCCEEDED
    verdict = {
        r.golden_example_id: (r.execution_match, r.error_kind)
        for r in run.results.all()
    }
    assert verdict[goldens[0].pk] == (True, "")
    assert verdict[goldens[1].pk] == (False, "")
    assert [v for v in verdict.values() if v[1] == "no_interaction"] == [
        (False, "no_interaction")
    ] * 4
    assert run.errors == 4


def test_replay_must_name_an_existing_model_version(
    prompt_v1: PromptVersion, ml_lead: User
) -> None:
    replay = register_model_version(
        name="replay-ghost",
        provider="replay",
        model_identifier="ghost",
        generation_parameters={},
        endpoint_name="",
        acting_user=ml_lead,
    )
    with pytest.raises(BackendConfigurationError, match="ghost"):
        backend_for(prompt_version=prompt_v1, model_version=replay)
