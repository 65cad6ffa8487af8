"""Ingestion's fast paths give what the general paths give."""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User

from feedback import ingestion, views
from feedback.ingestion import fingerprint
from feedback.models import Interaction
from feedback.redaction import pseudonymize, redact
from feedback.rows import stored_fingerprints


def test_text_with_few_digits_still_loses_its_ip_and_iban() -> None:
    found = redact("from 10.0.0.7 today")
    assert found.text == "from [IP] today"
    assert found.found == {"IP"}
    assert redact("").text == ""
    assert redact("").found == frozenset()


def test_text_with_six_digits_reaches_the_phone_detector() -> None:
    assert redact("call me on +44 20 7946 0958").found == {"PHONE"}
    assert redact("order 12 of 2024").found == frozenset()


def _reference(kind: str, clean: dict, key: bytes) -> str:
    hashed = {
        k: v
        for k, v in clean.items()
        if k not in ("input_tokens", "reported_model") or v not in (None, "")
    }
    text = json.dumps([kind, hashed], sort_keys=True, default=str)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_fingerprint_is_the_keyed_hash_of_sorted_json() -> None:
    clean = {
        "event_id": uuid.UUID(int=7),
        "question": "Wie viele Sänger?",
        "occurred_at": datetime(2026, 1, 2, tzinfo=UTC),
        "input_tokens": None,
        "reported_model": "",
        "output_tokens": 0,
    }
    for extra in ({}, {"input_tokens": 12}, {"reported_model": "m"}):
        event = {**clean, **extra}
        assert fingerprint("interaction", event, key=b"k") == _reference(
            "interaction", event, b"k"
        )
    assert fingerprint("interaction", clean, key=b"k") == fingerprint(
        "interaction",
        {k: v for k, v in clean.items() if v is not None and v != ""},
        key=b"k",
    )


@pytest.mark.django_db
def test_a_batch_runs_without_cycle_collection_and_resumes_it_after(
    interaction_event: Callable[..., dict], ingest: Callable
) -> None:
    seen: list[bool] = []
    real = ingestion.store_items

    def spy(**kwargs: Any) -> None:
        seen.append(gc.isenabled())
        real(**kwargs)

    assert gc.isenabled()
    with mock.patch.object(ingestion, "store_items", spy):
        results = ingest(interaction_event(), interaction_event())
    assert [r.status for r in results] == ["created", "created"]
    assert seen == [False]
    assert gc.isenabled()
    with (
        mock.patch.object(ingestion, "store_items", side_effect=RuntimeError),
        pytest.raises(RuntimeError),
    ):
        ingest(interaction_event())
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    gc.disable()
    try:
        with ingestion.cycle_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pseudonyms_are_the_prefix_of_the_whole_digest_in_base32() -> None:
    for value in ("user-17", "", "ユーザー", "x" * 500):
        digest = hmac.digest(b"k", b"pseudonym\x00" + value.encode(), "sha256")
        whole = base64.b32encode(digest).decode().lower()
        assert pseudonymize(value, key=b"k") == "p_" + whole[:16]


@pytest.mark.django_db
def test_the_batch_view_parses_and_answers_with_the_collector_paused(
    interaction_event: Callable[..., dict], analyst: User, client_as: Callable
) -> None:
    seen: list[bool] = []
    real = views.ingest_events

    def spy(**kwargs: Any) -> list[ingestion.ItemResult]:
        seen.append(gc.isenabled())
        return real(**kwargs)

    body = json.dumps({"events": [interaction_event(), interaction_event()]})
    with mock.patch.object(views, "ingest_events", spy):
        response = client_as(analyst).post(
            "/api/v1/feedback/batch/", body, content_type="application/json"
        )
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.django_db
def test_stored_fingerprints_are_what_the_orm_reads(
    interaction_event: Callable[..., dict], ingest: Callable
) -> None:
    events = [interaction_event() for _ in range(3)]
    ingest(*events)
    ids = [e["event_id"] for e in events[:2]] + [str(uuid.uuid4())]
    expected = [
        (str(pk), print_)
        for pk, print_ in Interaction.objects.filter(pk__in=ids).values_list(
            "pk", "fingerprint"
        )
    ]
    found = stored_fingerprints(Interaction, ids)
    assert sorted(found) == sorted(expected)
    assert len(found) == 2
    # Ids come back as the canonical text ingestion keys its items by.
    assert {pk for pk, _ in found} == set(ids[:2])
    assert stored_fingerprints(Interaction, []) == []


def test_an_id_in_any_spelling_uuid_accepts_is_the_same_event(
    interaction_event: Callable[..., dict], ingest: Callable
) -> None:
    # Ids are kept as canonical text: every spelling must reach the same text,
    # or a replay would be stored twice or reported as a conflict.
    event = interaction_event()
    canonical = event["event_id"]
    spellings = [
        canonical.upper(),
        uuid.UUID(canonical).hex,
        "{" + canonical + "}",
        "urn:uuid:" + canonical,
    ]
    [first] = ingest(event)
    assert first.status == "created"
    for spelling in spellings:
        [again] = ingest({**event, "event_id": spelling})
        assert (again.status, again.event_id) == ("duplicate", canonical), spelling
    assert Interaction.objects.filter(pk=canonical).count() == 1
    [other] = ingest({**event, "event_id": canonical.upper(), "question": "Other?"})
    assert other.status == "conflict"
    [bad] = ingest({**event, "event_id": canonical[:-1] + "g"})
    assert bad.errors == {"event_id": ["Must be a valid UUID."]}
