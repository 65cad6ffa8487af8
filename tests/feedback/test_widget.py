"""Widget feedback: resolve's token, the token-only endpoint, the page, a browser."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.widget_tokens import (
    issue_feedback_token,
    read_feedback_token,
)
from feedback.ingestion import ingest_events
from feedback.models import Feedback, Interaction, ReviewItem
from feedback.views import TOKEN_HEADER, FeedbackTokenThrottle
from registry.models import Label, PromptTemplate
from registry.services import (
    create_prompt_version,
    create_template,
    move_label,
    register_model_version,
)
from targets.models import TargetDatabase
from tests.helpers import TEMPLATE_TEXT

WIDGET = "/api/v1/feedback/widget/"
Build = Callable[..., dict[str, Any]]


@pytest.fixture(autouse=True)
def _fresh_throttle() -> None:
    cache.clear()


@pytest.fixture
def response_id(interaction_event: Build, ingest: Callable) -> uuid.UUID:
    event = interaction_event()
    ingest(event)
    return uuid.UUID(event["event_id"])


def post(client: APIClient, token: str | None, **body: Any) -> Any:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    body.setdefault("event_id", str(uuid.uuid4()))
    return client.post(WIDGET, body, "json", headers=headers)


@pytest.mark.django_db
def test_resolve_returns_a_response_id_and_a_token_bound_to_it(
    production: Label, analyst: User, client_as: Callable[[User], APIClient]
) -> None:
    body = (
        client_as(analyst)
        .get("/api/v1/registry/resolve/?template=concerts&session_id=s")
        .json()
    )
    grant = read_feedback_token(body["feedback_token"])
    assert str(grant.response_id) == body["response_id"]
    assert grant.expires_at.isoformat() == body["feedback_token_expires_at"]


@pytest.mark.django_db
def test_widget_posts_feedback_for_its_response(
    api_client: APIClient, response_id: uuid.UUID
) -> None:
    token = issue_feedback_token(response_id=response_id).token
    event_id = str(uuid.uuid4())
    first = post(
        api_client,
        token,
        event_id=event_id,
        type="thumbs_down",
        comment="wrong, ask me at x@y.org",
        submitter_role="senior_analyst",
    )
    assert first.status_code == 201
    assert first.json() == {"event_id": event_id, "status": "created"}
    assert first["Access-Control-Allow-Origin"] == "*"
    row = Feedback.objects.get(pk=event_id)
    assert row.interaction_id == response_id
    assert row.channel == "widget"
    assert row.submitter_role == "end_user"
    assert row.comment == "wrong, ask me at [EMAIL]"
    replay = post(
        api_client,
        token,
        event_id=event_id,
        type="thumbs_down",
        comment="wrong, ask me at x@y.org",
        occurred_at=row.occurred_at.isoformat(),
    )
    assert replay.status_code == 200
    conflict = post(api_client, token, event_id=event_id, type="thumbs_up")
    assert conflict.status_code == 409
    assert Feedback.objects.count() == 1


@pytest.mark.django_db
def test_widget_correction_opens_a_review_item(
    api_client: APIClient, response_id: uuid.UUID
) -> None:
    token = issue_feedback_token(response_id=response_id).token
    ok = post(api_client, token, type="correction", corrected_sql="SELECT 1")
    assert ok.status_code == 201
    assert ReviewItem.objects.get().feedback.channel == "widget"
    bad = post(api_client, token, type="correction", corrected_sql="SELEC FROM (")
    assert bad.status_code == 400
    assert "corrected_sql" in bad.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [None, "", "garbage", "eyJyIjoiMDAifQ:1abc:forged"],
)
def test_widget_refuses_missing_or_forged_tokens(
    api_client: APIClient, response_id: uuid.UUID, token: str | None
) -> None:
    response = post(api_client, token, type="thumbs_up")
    assert response.status_code == 403
    assert "token" in response.json()
    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_widget_refuses_an_expired_token(
    api_client: APIClient, response_id: uuid.UUID
) -> None:
    token = issue_feedback_token(response_id=response_id, ttl=timedelta(seconds=-1))
    response = post(api_client, token.token, type="thumbs_up")
    assert response.status_code == 403
    assert response.json()["token"] == ["This feedback token has expired."]
    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_widget_token_cannot_post_for_another_response(
    api_client: APIClient,
    response_id: uuid.UUID,
    interaction_event: Build,
    ingest: Callable,
) -> None:
    other = interaction_event()
    ingest(other)
    token = issue_feedback_token(response_id=response_id).token
    response = post(
        api_client, token, type="thumbs_up", interaction_id=other["event_id"]
    )
    assert response.status_code == 403
    assert response.json()["token"] == ["This token is for another response."]
    assert not Feedback.objects.filter(interaction_id=other["event_id"]).exists()


@pytest.mark.django_db
def test_widget_token_for_an_unrecorded_response_is_a_400(
    api_client: APIClient, production: Label
) -> None:
    token = issue_feedback_token(response_id=uuid.uuid4()).token
    response = post(api_client, token, type="thumbs_up")
    assert response.status_code == 400
    assert "interaction_id" in response.json()


@pytest.mark.django_db
def test_widget_accepts_explicit_feedback_only(
    api_client: APIClient, response_id: uuid.UUID
) -> None:
    token = issue_feedback_token(response_id=response_id).token
    response = post(api_client, token, type="copied")
    assert response.status_code == 400
    assert "type" in response.json()


@pytest.mark.django_db
def test_widget_is_throttled_per_token_and_address(
    api_client: APIClient, response_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        FeedbackTokenThrottle, "THROTTLE_RATES", {"feedback_token": "2/min"}
    )
    token = issue_feedback_token(response_id=response_id).token
    codes = [post(api_client, token, type="thumbs_up").status_code for _ in range(3)]
    assert codes == [201, 201, 429]


@pytest.mark.django_db
def test_widget_preflight_allows_the_token_header(api_client: APIClient) -> None:
    response = api_client.options(WIDGET)
    assert response.status_code == 200
    assert TOKEN_HEADER in response["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_widget_script_and_demo_page_are_served(
    client: Client, senior: User, production: Label
) -> None:
    script = client.get("/feedback/widget.js")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("text/javascript")
    assert client.get("/feedback/widget-demo/?token=nope").status_code == 200
    client.force_login(senior)
    response = client.post(
        "/feedback/widget-demo/",
        {"template": "concerts", "question": "How many singers?", "sql": "SELECT 1"},
    )
    assert response.status_code == 302
    token = response["Location"].split("token=")[1]
    grant = read_feedback_token(token)
    assert Interaction.objects.get(pk=grant.response_id).question == "How many singers?"
    page = client.get(response["Location"])
    assert str(grant.response_id) in page.content.decode()


@pytest.mark.django_db
def test_demo_page_refusals_are_4xx_html(
    client: Client, senior: User, template: PromptTemplate
) -> None:
    client.force_login(senior)
    unknown = client.post("/feedback/widget-demo/", {"template": "nope"})
    assert unknown.status_code == 400
    assert unknown["Content-Type"].startswith("text/html")
    assert b"Unknown template." in unknown.content
    # The template exists but has no production pair to serve yet.
    unservable = client.post("/feedback/widget-demo/", {"template": "concerts"})
    assert unservable.status_code == 409
    assert Interaction.objects.count() == 0


@pytest.fixture
def served_pair(target_db: TargetDatabase, django_user_model: type[User]) -> Label:
    """Registry state without role groups.

    After an earlier transactional test's flush, groups come back only through
    serialized rollback, which the browser fixture's event loop defeats (the
    connection seen beside the loop is a fresh wrapper); the widget needs none.
    """
    owner = django_user_model.objects.create_user("widget-owner")
    template = create_template(
        name="concerts",
        description="",
        owner=owner,
        risk_tier=2,
        target_database=target_db,
        acting_user=owner,
    )
    version = create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=[],
        parameters={},
        changelog="v1",
        author=owner,
    )
    model = register_model_version(
        name="knn-1",
        provider="offline-retrieval",
        model_identifier="nearest-example",
        generation_parameters={},
        endpoint_name="",
        acting_user=owner,
    )
    return move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=version,
        model_version=model,
        reason="widget test",
        acting_user=owner,
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_widget_in_headless_chromium(
    browser: Any, live_server: Any, served_pair: Label, purge_events: None
) -> None:
    def interaction() -> dict[str, Any]:
        event = {
            "event_id": str(uuid.uuid4()),
            "user_id": "u-1",
            "tenant_id": "acme",
            "task_type": "adhoc",
            "question": "How many singers are older than 30?",
            "generated_sql": "SELECT count(*) FROM singer",
            "prompt_version": served_pair.prompt_version_id,
            "model_version": served_pair.model_version_id,
            "outcome": "success",
            "consent_scope": "improvement",
            "occurred_at": timezone.now().isoformat(),
        }
        [result] = ingest_events(
            events=[event], acting_user=None, channel="api", kind="interaction"
        )
        assert result.status == "created"
        return event

    event = interaction()
    response_id = uuid.UUID(event["event_id"])
    token = issue_feedback_token(response_id=response_id).token
    page = browser.new_page()
    try:
        page.goto(f"{live_server.url}/feedback/widget-demo/?token={token}")
        status = page.locator(".lg-status")
        page.click(".lg-down")
        page.wait_for_selector(".lg-status[data-state=sent]")
        page.fill(".lg-comment", "Totals are off, call 555-0100")
        page.click(".lg-send-comment")
        page.wait_for_function(
            "document.querySelectorAll('.lg-status[data-state=sent]').length === 1"
        )
        page.fill(".lg-correction", "SELECT count(*) FROM singer WHERE age > 30")
        page.click(".lg-send-correction")
        page.wait_for_timeout(50)
        page.wait_for_selector(".lg-status[data-state=sent]")
        page.wait_for_function(
            "!document.querySelector('.lg-send-correction').disabled"
        )
        types = set(
            Feedback.objects.filter(interaction_id=response_id).values_list(
                "type", flat=True
            )
        )
        assert types == {"thumbs_down", "comment", "correction"}
        assert all(
            channel == "widget"
            for channel in Feedback.objects.values_list("channel", flat=True)
        )
        assert "Thanks" in status.inner_text()

        expired = issue_feedback_token(response_id=response_id, ttl=timedelta(0))
        page.goto(f"{live_server.url}/feedback/widget-demo/?token={expired.token}")
        assert "expired" in page.content()

        other = interaction()
        # A page holding a token for response A cannot post for response B.
        posted = page.evaluate(
            """async ([url, token, other]) => {
                 const r = await fetch(url, {method: 'POST', headers: {
                   'Content-Type': 'application/json',
                   'X-Loopgate-Feedback-Token': token},
                   body: JSON.stringify({event_id: crypto.randomUUID(),
                     type: 'thumbs_up', interaction_id: other})});
                 return r.status; }""",
            [f"{live_server.url}{WIDGET}", token, other["event_id"]],
        )
        assert posted == 403
        assert not Feedback.objects.filter(interaction_id=other["event_id"]).exists()
    finally:
        page.close()
