"""Regression alerts: raised once per (run, segment) against the champion,
mailed, and posted to a signed webhook on a real loopback server."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from pytest_django.fixtures import Settings

from audit.models import AuditEvent
from config.celery import app as celery_app
from evaluation.models import (
    EvaluationRun,
    GoldenSetSnapshot,
    RegressionAlert,
)
from evaluation.runs.alerts import (
    deliver_alert,
    raise_regression_alerts,
    verify_signature,
)
from registry.models import Label, ModelVersion, PromptTemplate
from registry.services import move_label
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)

SECRET = "webhook-test-secret"


@dataclass
class Hook:
    url: str
    statuses: list[int]
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(url="", statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.bodies.append(body)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            status = state.statuses.pop(0) if state.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/loopgate"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def alerting(settings: Settings, hook: Hook) -> Iterator[None]:
    settings.REGRESSION_THRESHOLD_POINTS = 2.0
    settings.REGRESSION_ALERT_EMAILS = ["ml-leads@example.com"]
    settings.REGRESSION_ALERT_WEBHOOK_URL = hook.url
    settings.REGRESSION_ALERT_WEBHOOK_SECRET = SECRET
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return snapshot_of(add_goldens(target_db))


@pytest.fixture
def champion(
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> EvaluationRun:
    # Champion: right on items 0-3 (easy 0; medium 1, 2, 3), in production.
    prompt = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=prompt,
        model_version=model_v1,
        reason="champion",
        acting_user=ml_lead,
    )
    return finished_run(prompt, model_v1, snapshot)


def challenger_run(
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    capture: Any,
) -> EvaluationRun:
    # Challenger: fixes easy items 4 and 5, breaks medium item 1 (-33.3 points).
    prompt = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    with capture(execute=True):
        return finished_run(prompt, model_v1, snapshot)


def test_an_engineered_segment_regression_alerts_exactly_once_by_mail_and_webhook(
    alerting: None,
    hook: Hook,
    champion: EvaluationRun,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert not RegressionAlert.objects.exists()  # the champion's own run
    run = challenger_run(
        template, ml_lead, model_v1, snapshot, django_capture_on_commit_callbacks
    )
    alert = RegressionAlert.objects.get()
    assert (alert.run, alert.champion_run) == (run, champion)
    assert alert.segment == "difficulty:medium"
    assert alert.champion_value == 1.0
    assert alert.challenger_value == pytest.approx(2 / 3)
    assert alert.drop_points == pytest.approx(100 / 3, abs=1e-5)
    assert (alert.champion_n, alert.challenger_n) == (3, 3)
    assert alert.email_sent_at and alert.webhook_delivered_at
    assert AuditEvent.objects.filter(
        event_type="evaluation.regression_alert.raised", subject_id=str(alert.pk)
    ).exists()
    (message,) = mail.outbox
    assert message.to == ["ml-leads@example.com"]
    assert "difficulty:medium" in message.subject and "33.3 points" in message.subject
    (body,) = hook.bodies
    headers = hook.headers[0]
    assert verify_signature(body, headers["x-loopgate-signature"], secret=SECRET)
    payload = json.loads(body)
    assert payload["segment"] == "difficulty:medium"
    assert payload["run"]["id"] == run.pk and payload["champion_run"] == champion.pk
    assert headers["x-loopgate-delivery"] == str(alert.pk)
    # Raising again (a re-finished or re-checked run) stores and sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert raise_regression_alerts(run=run) == []
    assert RegressionAlert.objects.count() == 1
    assert len(mail.outbox) == 1 and len(hook.bodies) == 1


def test_a_drop_below_the_threshold_raises_no_alert(
    alerting: None,
    settings: Settings,
    hook: Hook,
    champion: EvaluationRun,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.REGRESSION_THRESHOLD_POINTS = 34.0
    run = challenger_run(
        template, ml_lead, model_v1, snapshot, django_capture_on_commit_callbacks
    )
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert not RegressionAlert.objects.exists()
    assert mail.outbox == [] and hook.bodies == []


def test_no_champion_run_on_the_snapshot_means_no_alert(
    alerting: None,
    production: Label,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    django_capture_on_commit_callbacks: Any,
) -> None:
    challenger_run(
        template, ml_lead, model_v1, snapshot, django_capture_on_commit_callbacks
    )
    assert not RegressionAlert.objects.exists()


@pytest.fixture
def alert(
    champion: EvaluationRun,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    settings: Settings,
    django_capture_on_commit_callbacks: Any,
) -> RegressionAlert:
    settings.REGRESSION_ALERT_EMAILS = []
    settings.REGRESSION_ALERT_WEBHOOK_URL = ""
    challenger_run(
        template, ml_lead, model_v1, snapshot, django_capture_on_commit_callbacks
    )
    return RegressionAlert.objects.get()


def test_webhook_failures_are_retried_with_backoff_and_never_resent(
    alert: RegressionAlert, settings: Settings, hook: Hook
) -> None:
    settings.REGRESSION_ALERT_WEBHOOK_URL = hook.url
    settings.REGRESSION_ALERT_WEBHOOK_SECRET = SECRET
    settings.REGRESSION_ALERT_EMAILS = ["ops@example.com"]
    hook.statuses = [500, 503]
    assert deliver_alert(alert=alert, backoff_s=0.01) is True
    assert len(hook.bodies) == 3 and alert.delivery_attempts == 3
    assert alert.last_delivery_error == "" and len(mail.outbox) == 1
    assert deliver_alert(alert=alert) is True  # nothing left to send
    assert len(hook.bodies) == 3 and len(mail.outbox) == 1


def test_a_webhook_that_stays_down_is_recorded_for_a_later_retry(
    alert: RegressionAlert, settings: Settings, hook: Hook
) -> None:
    settings.REGRESSION_ALERT_WEBHOOK_URL = hook.url
    settings.REGRESSION_ALERT_WEBHOOK_SECRET = SECRET
    hook.statuses = [500, 500]
    assert deliver_alert(alert=alert, attempts=2, backoff_s=0.01) is False
    alert.refresh_from_db()
    assert alert.webhook_delivered_at is None
    assert alert.last_delivery_error == "webhook: webhook answered HTTP 500"
    assert deliver_alert(alert=alert, backoff_s=0.01) is True
    alert.refresh_from_db()
    assert alert.webhook_delivered_at and alert.delivery_attempts == 3


def test_the_webhook_is_never_sent_unsigned(
    alert: RegressionAlert, settings: Settings, hook: Hook
) -> None:
    settings.REGRESSION_ALERT_WEBHOOK_URL = hook.url
    settings.REGRESSION_ALERT_WEBHOOK_SECRET = ""
    assert deliver_alert(alert=alert) is False
    assert hook.bodies == []
    assert "WEBHOOK_SECRET is not set" in alert.last_delivery_error


def test_signatures_reject_tampered_bodies_wrong_secrets_and_stale_times() -> None:
    from evaluation.runs.alerts import sign

    body = b'{"segment": "overall"}'
    now = int(time.time())
    header = sign(body, secret=SECRET, timestamp=now)
    assert verify_signature(body, header, secret=SECRET)
    assert not verify_signature(body + b" ", header, secret=SECRET)
    assert not verify_signature(body, header, secret="other")
    assert not verify_signature(body, header, secret=SECRET, now=now + 301)
    assert not verify_signature(body, "garbage", secret=SECRET)
