"""The Python client against a live server: stored rows, nothing lost, nothing twice."""

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from loopgate_client import (
    APIError,
    EventRejected,
    Loopgate,
    Resolution,
    TransportError,
)

from feedback.models import Feedback, Interaction
from registry.models import Label
from tests.client.proxy import Proxy

# Transactional, as a server runs: the live server sees what the test stored.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
Make = Callable[..., Loopgate]
MakeProxy = Callable[..., Proxy]


def record(client: Loopgate, label: Label, n: int = 1, **fields: Any) -> list[str]:
    """Queue `n` interactions on `label`'s pair; their event ids."""
    return [
        client.interaction(
            question=f"How many singers are older than {30 + i}?",
            generated_sql="SELECT count(*) FROM singer",
            user_id="user-17",
            tenant_id="acme",
            task_type="adhoc",
            outcome="success",
            consent_scope="improvement",
            prompt_version=label.prompt_version_id,
            model_version=label.model_version_id,
            **fields,
        )
        for i in range(n)
    ]


def stored(ids: list[str]) -> set[str]:
    return {
        str(pk)
        for pk in Interaction.objects.filter(pk__in=ids).values_list("pk", flat=True)
    }


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_resolve_returns_the_pair_a_response_id_and_a_widget_token(
    live_server: Any, production: Label, make_client: Make
) -> None:
    resolution = make_client(live_server.url).resolve("concerts", "session-9")
    assert resolution.template == "concerts"
    assert resolution.session_id == "session-9"
    assert resolution.serve.label == "production"
    assert resolution.serve.prompt_version == production.prompt_version_id
    assert resolution.serve.model_version == production.model_version_id
    assert resolution.shadow is None
    assert uuid.UUID(resolution.response_id)
    assert resolution.feedback_token
    assert resolution.feedback_token_expires_at.tzinfo is not None


def test_resolve_raises_what_went_wrong(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    with pytest.raises(APIError) as unknown:
        make_client(live_server.url).resolve("no-such-template", "s")
    assert unknown.value.status_code == 404
    down = make_proxy(live_server.url, listening=False)
    with pytest.raises(TransportError):
        make_client(down.url).resolve("concerts", "s")


def test_events_of_every_kind_are_sent_in_batches_and_stored_once(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    proxy = make_proxy(live_server.url)
    client = make_client(proxy.url, batch_size=40, flush_interval=0.2)
    ids = record(client, production, 100, session_id="s-1", client_latency_ms=900)
    first = ids[0]
    signals = [
        client.feedback(interaction_id=first, type="thumbs_up", topic="praise"),
        client.feedback(
            interaction_id=first,
            type="thumbs_down",
            comment="Counts every singer twice.",
            submitter_role="analyst",
        ),
        client.feedback(
            interaction_id=first,
            type="correction",
            corrected_sql="SELECT count(DISTINCT singer_id) FROM singer",
        ),
        client.feedback(interaction_id=first, type="copied"),
        client.feedback(interaction_id=first, type="time_to_first_action", value=850),
        client.feedback(
            interaction_id=first,
            type="outcome_metric",
            metric_name="rows_exported",
            value=12.0,
        ),
    ]
    client.close()
    assert stored(ids) == set(ids)
    assert Interaction.objects.get(pk=first).client_latency_ms == 900
    rows = {str(row.pk): row for row in Feedback.objects.filter(pk__in=signals)}
    assert [rows[pk].type for pk in signals] == [
        "thumbs_up",
        "thumbs_down",
        "correction",
        "copied",
        "time_to_first_action",
        "outcome_metric",
    ]
    assert rows[signals[1]].submitter_role == "analyst"
    assert rows[signals[4]].value == 850
    assert rows[signals[5]].metric_name == "rows_exported"
    stats = client.stats()
    assert (stats.created, stats.duplicate, stats.failed, stats.queued) == (
        106,
        0,
        0,
        0,
    )
    sent = [event_id for seen in proxy.batches() for event_id in seen.event_ids]
    assert sorted(sent) == sorted(ids + signals)
    assert max(len(seen.event_ids) for seen in proxy.batches()) <= 40
    assert stats.batches == len(proxy.batches()) >= 3


def test_429_503_a_lost_answer_and_a_timeout_are_retried_exactly(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    proxy = make_proxy(
        live_server.url,
        ["429", "503", "forward+503", "forward+stall"],
        stall_s=4.0,
    )
    client = make_client(proxy.url, batch_size=100, flush_interval=60, timeout=2.0)
    ids = record(client, production, 30)
    assert client.flush(timeout=30)
    assert stored(ids) == set(ids)
    tries = proxy.batches()
    assert [seen.action for seen in tries] == [
        "429",
        "503",
        "forward+503",
        "forward+stall",
        "forward",
    ]
    # Every try carried the same events under the same ids.
    assert all(seen.event_ids == ids for seen in tries)
    # The server's Retry-After (1 s) was waited for, not the client's 10 ms backoff.
    assert tries[1].at - tries[0].at >= 1.0
    stats = client.stats()
    assert stats.retries == 4
    # Stored by the third try, replayed by the fourth and fifth: no second row.
    assert (stats.created, stats.duplicate, stats.failed) == (0, 30, 0)
    assert Interaction.objects.count() == 30


def test_a_down_server_loses_nothing_once_it_comes_back(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    proxy = make_proxy(live_server.url, listening=False)
    client = make_client(
        proxy.url, batch_size=10, flush_interval=0.05, max_retries=None
    )
    ids = record(client, production, 25)
    wait_for(lambda: client.stats().retries >= 3)
    assert stored(ids) == set()
    assert client.stats().queued == 25
    proxy.start()
    assert client.flush(timeout=30)
    assert stored(ids) == set(ids)
    stats = client.stats()
    assert (stats.created, stats.failed, stats.dropped) == (25, 0, 0)


def test_a_full_queue_drops_and_counts_and_sends_the_rest(
    live_server: Any,
    production: Label,
    make_client: Make,
    make_proxy: MakeProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = make_proxy(live_server.url, ["hold"])
    client = make_client(proxy.url, batch_size=1, flush_interval=0, max_queue=5)
    in_flight = record(client, production)
    assert proxy.holding.wait(10)
    later = record(client, production, 8, session_id="s-later")
    assert client.stats().dropped == 3
    assert "event dropped (queue full at 5 events)" in caplog.text
    proxy.release.set()
    assert client.flush(timeout=30)
    assert stored(in_flight + later) == set(in_flight + later[:5])
    stats = client.stats()
    assert (stats.created, stats.dropped, stats.queued) == (6, 3, 0)


def test_close_sends_what_is_queued_and_later_events_are_dropped(
    live_server: Any, production: Label, make_client: Make
) -> None:
    client = make_client(live_server.url, batch_size=1000, flush_interval=3600)
    ids = record(client, production, 10)
    assert stored(ids) == set()
    client.close()
    assert stored(ids) == set(ids)
    late = record(client, production)
    client.close()
    assert stored(late) == set()
    assert client.stats().dropped == 1


def test_events_queued_when_the_process_exits_are_sent(
    live_server: Any, production: Label, api_key: str
) -> None:
    event_id = str(uuid.uuid4())
    script = f"""
from loopgate_client import Loopgate
client = Loopgate({live_server.url!r}, {api_key!r}, flush_interval=3600)
client.interaction(
    event_id={event_id!r}, question="Singers?", user_id="u", tenant_id="acme",
    task_type="adhoc", outcome="success", consent_scope="improvement",
    prompt_version={production.prompt_version_id},
    model_version={production.model_version_id},
)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)  # noqa: S603
    assert stored([event_id]) == {event_id}


def test_refusals_never_raise_into_the_caller(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    client = make_client(live_server.url)
    good = record(client, production)
    bad = record(client, production, country="Germany")
    unknown = client.feedback(interaction_id=str(uuid.uuid4()), type="copied")
    # JSON has no NaN: that event fails alone, the rest of its batch is sent.
    nan = client.feedback(
        interaction_id=good[0], type="time_to_first_action", value=float("nan")
    )
    later = client.feedback(interaction_id=good[0], type="copied")
    assert client.flush(timeout=30)
    assert stored(good + bad) == set(good)
    assert not Feedback.objects.filter(pk__in=[unknown, nan]).exists()
    assert Feedback.objects.filter(pk=later).exists()
    stats = client.stats()
    assert (stats.created, stats.invalid, stats.failed) == (2, 2, 1)

    wrong_key = make_client(live_server.url, api_key="lg_not-a-key")
    refused = record(wrong_key, production)
    assert wrong_key.flush(timeout=30)
    assert stored(refused) == set()
    assert wrong_key.stats().failed == 1

    down = make_proxy(live_server.url, listening=False)
    hopeless = make_client(down.url, max_retries=2)
    lost = record(hopeless, production)
    assert hopeless.flush(timeout=30)
    assert (hopeless.stats().failed, hopeless.stats().retries) == (1, 2)
    assert stored(lost) == set()


def test_sync_mode_stores_before_returning_and_raises_naming_the_field(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    client = make_client(live_server.url, sync=True)
    moment = datetime.now(UTC)
    ids = record(client, production, 2, occurred_at=moment)
    assert stored(ids) == set(ids)
    # The same event again is a replay: stored once, no error.
    assert record(client, production, event_id=ids[0], occurred_at=moment) == ids[:1]
    assert client.stats().duplicate == 1
    with pytest.raises(EventRejected) as refused:
        record(client, production, country="Germany")
    assert refused.value.result.status == "invalid"
    assert list(refused.value.result.errors) == ["country"]
    with pytest.raises(EventRejected) as conflict:
        record(client, production, event_id=ids[0], country="DE")
    assert conflict.value.result.status == "conflict"
    assert Interaction.objects.count() == 2

    proxy = make_proxy(live_server.url, ["503", "429"])
    retried = make_client(proxy.url, sync=True)
    assert stored(record(retried, production)) != set()
    assert retried.stats().retries == 2

    down = make_proxy(live_server.url, listening=False)
    with pytest.raises(EventRejected) as failed:
        record(make_client(down.url, sync=True, max_retries=1), production)
    assert failed.value.result.status == "failed"


def test_record_measures_one_response_and_records_its_outcome(
    live_server: Any, production: Label, make_client: Make
) -> None:
    client = make_client(live_server.url, sync=True)
    identity = {
        "question": "How many singers are there?",
        "user_id": "user-17",
        "tenant_id": "acme",
        "task_type": "adhoc",
        "consent_scope": "improvement",
    }
    resolution: Resolution = client.resolve("concerts", "s-7")
    with client.record(resolution, **identity, trace_id="t-9") as response:
        response.sql = "SELECT count(*) FROM singer"
        time.sleep(0.05)
    row = Interaction.objects.get(pk=resolution.response_id)
    assert response.event_id == resolution.response_id
    assert (row.generated_sql, row.outcome) == (
        "SELECT count(*) FROM singer",
        "success",
    )
    assert (row.session_id, row.trace_id) == ("s-7", "t-9")
    assert row.prompt_version_id == resolution.serve.prompt_version
    assert row.model_version_id == resolution.serve.model_version
    assert row.server_latency_ms >= 50

    for error, outcome in ((ValueError, "sql_error"), (TimeoutError, "timeout")):
        failing = client.resolve("concerts", "s-8")
        with pytest.raises(error), client.record(failing, **identity) as response:
            response.sql = "SELECT nope FROM singer"
            raise error("the target database said no")
        assert Interaction.objects.get(pk=failing.response_id).outcome == outcome

    chosen = client.resolve("concerts", "s-9")
    with client.record(chosen, **identity) as response:
        response.outcome = "empty_result"
    assert Interaction.objects.get(pk=chosen.response_id).outcome == "empty_result"


def test_a_batch_too_large_for_the_server_is_split(
    live_server: Any, production: Label, make_client: Make, make_proxy: MakeProxy
) -> None:
    proxy = make_proxy(live_server.url, max_events=4)
    client = make_client(proxy.url, batch_size=20, flush_interval=60)
    ids = record(client, production, 20)
    assert client.flush(timeout=30)
    assert stored(ids) == set(ids)
    assert client.stats().created == 20
    assert all(
        len(seen.event_ids) <= 4 for seen in proxy.batches() if seen.action == "forward"
    )
