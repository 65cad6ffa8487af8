"""The client speaks the server's field names and choices (no server needed)."""

import inspect
from datetime import UTC, datetime
from typing import get_args

from loopgate_client import (
    ConsentScope,
    FeedbackType,
    Loopgate,
    Outcome,
    SubmitterRole,
    Topic,
)
from loopgate_client._delivery import RetryPolicy, retry_after_seconds

from feedback.categories import TOPICS
from feedback.events import (
    CONSENT_SCOPES,
    FEEDBACK_CATEGORY,
    OUTCOMES,
    ROLE_WEIGHTS,
    feedback_rules,
    interaction_rules,
)


def _keywords(method: object) -> set[str]:
    return set(inspect.signature(method).parameters) - {"self"}


def test_the_client_choices_are_the_servers() -> None:
    assert set(get_args(Outcome)) == OUTCOMES
    assert set(get_args(ConsentScope)) == CONSENT_SCOPES
    assert set(get_args(FeedbackType)) == set(FEEDBACK_CATEGORY)
    assert set(get_args(SubmitterRole)) == set(ROLE_WEIGHTS)
    assert set(get_args(Topic)) == set(TOPICS)


def test_every_server_field_is_a_keyword_of_the_client() -> None:
    now = datetime.now(UTC)
    server_interaction = set(interaction_rules(now)) - {"kind"}
    server_feedback = set(feedback_rules(now)) - {"kind"}
    assert _keywords(Loopgate.interaction) - {"resolution"} == server_interaction
    assert _keywords(Loopgate.feedback) == server_feedback


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_grows_to_its_ceiling_and_the_server_delay_wins() -> None:
    policy = RetryPolicy(max_retries=3, backoff=1.0, max_backoff=8.0)
    assert 0.5 <= policy.delay(0, None) <= 1.0
    assert 4.0 <= policy.delay(3, None) <= 8.0
    assert 4.0 <= policy.delay(10, None) <= 8.0
    assert policy.delay(10, 2.0) == 2.0
    assert policy.exhausted(3)
    assert not policy.exhausted(2)
    assert not RetryPolicy(max_retries=None).exhausted(10**6)
