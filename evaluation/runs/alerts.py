"""Per-segment regression alerts: raised when a run finishes, mailed and posted.

Webhook bodies are signed like Stripe's: the header
``X-Loopgate-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
with REGRESSION_ALERT_WEBHOOK_SECRET. Receivers recompute it (see
`verify_signature`) and reject stale timestamps, which stops replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.models import EvaluationRun, RegressionAlert
from evaluation.runs.comparison import segment_regressions
from evaluation.runs.selectors import find_champion_run

__all__ = [
    "Delivery",
    "alert_payload",
    "deliver",
    "deliver_alert",
    "raise_regression_alerts",
    "sign",
    "verify_signature",
]

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Loopgate-Signature"


@transaction.atomic
def raise_regression_alerts(*, run: EvaluationRun) -> list[RegressionAlert]:
    """Store an alert per segment where `run` fell more than the threshold below
    the champion on the same snapshot, and send each once (on commit).

    Called by the runner when a run succeeds; idempotent per (run, segment). A
    run of the champion's own pair, or without a champion run, raises nothing.
    Records `evaluation.regression_alert.raised` per new alert.
    """
    champion = find_champion_run(
        template=run.prompt_version.template, snapshot=run.snapshot, mode=run.mode
    )
    if champion is None or (champion.prompt_version_id, champion.model_version_id) == (
        run.prompt_version_id,
        run.model_version_id,
    ):
        return []
    threshold = settings.REGRESSION_THRESHOLD_POINTS
    created = []
    for segment, deltas in segment_regressions(
        champion.summary, run.summary, threshold_points=threshold
    ):
        values = deltas["execution_accuracy"]
        alert, new = RegressionAlert.objects.get_or_create(
            run=run,
            segment=segment,
            defaults={
                "champion_run": champion,
                "champion_value": values["champion"],
                "challenger_value": values["challenger"],
                "drop_points": -values["delta_points"],
                "threshold_points": threshold,
                "champion_n": deltas["n"]["champion"],
                "challenger_n": deltas["n"]["challenger"],
            },
        )
        if new:
            created.append(alert)
            record_event(
                event_type="evaluation.regression_alert.raised",
                actor=None,
                subject=alert,
                data={"run": run.pk, "champion_run": champion.pk, "segment": segment},
            )
    from evaluation.runs.tasks import send_regression_alert

    for alert in created:
        send_regression_alert.delay_on_commit(alert.pk)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask
    return created


def alert_payload(alert: RegressionAlert) -> dict[str, Any]:
    """The JSON document posted to the webhook (and summarized in the email)."""
    run = alert.run
    return {
        "event": "evaluation.regression",
        "alert_id": alert.pk,
        "template": run.prompt_version.template.name,
        "run": {
            "id": run.pk,
            "prompt_version": run.prompt_version_id,
            "prompt_version_number": run.prompt_version.number,
            "model_version": run.model_version.name,
        },
        "champion_run": alert.champion_run_id,
        "snapshot": run.snapshot_id,
        "segment": alert.segment,
        "metric": alert.metric,
        "champion_value": alert.champion_value,
        "challenger_value": alert.challenger_value,
        "drop_points": alert.drop_points,
        "threshold_points": alert.threshold_points,
        "created_at": alert.created_at.isoformat(),
    }


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    body: bytes,
    header: str,
    *,
    secret: str,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with `secret` within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret=secret, timestamp=timestamp)
    return hmac.compare_digest(expected, header)


class WebhookError(Exception):
    """The webhook did not accept the delivery."""


def _post(url: str, body: bytes, secret: str, alert_id: int, event: str) -> None:
    if urlsplit(url).scheme not in {"http", "https"}:
        raise WebhookError(f"webhook URL must be http(s), not {url!r}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "loopgate-alerts",
            "X-Loopgate-Event": event,
            "X-Loopgate-Delivery": str(alert_id),
            SIGNATURE_HEADER: sign(body, secret=secret, timestamp=int(time.time())),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WebhookError(f"webhook unreachable: {exc}") from None
    if not 200 <= status < 300:
        raise WebhookError(f"webhook answered HTTP {status}")


def _email(alert: RegressionAlert, payload: dict[str, Any]) -> None:
    send_mail(
        subject=(
            f"[Loopgate] {payload['template']}: execution accuracy down "
            f"{alert.drop_points:.1f} points on {alert.segment}"
        ),
        message=(
            f"Run {alert.run_id} (prompt v{payload['run']['prompt_version_number']}, "
            f"model {payload['run']['model_version']}) scored "
            f"{alert.challenger_value:.1%} on {alert.segment} against the champion's "
            f"{alert.champion_value:.1%} (run {alert.champion_run_id}, snapshot "
            f"{payload['snapshot']}); the threshold is {alert.threshold_points} "
            "points.\n\n" + json.dumps(payload, indent=2)
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=settings.REGRESSION_ALERT_EMAILS,
    )


class Delivery(Protocol):
    """A stored alert whose delivery state survives retries."""

    pk: Any
    email_sent_at: datetime | None
    webhook_delivered_at: datetime | None
    delivery_attempts: int
    last_delivery_error: str

    def save(self, *, update_fields: list[str]) -> None: ...


def deliver_alert(
    *, alert: RegressionAlert, attempts: int = 3, backoff_s: float = 0.5
) -> bool:
    """Send a regression alert: `deliver` with its payload and mail."""
    payload = alert_payload(alert)
    return deliver(
        record=alert,
        payload=payload,
        mail=lambda: _email(alert, payload),
        attempts=attempts,
        backoff_s=backoff_s,
    )


def deliver(
    *,
    record: Delivery,
    payload: dict[str, Any],
    mail: Callable[[], None],
    attempts: int = 3,
    backoff_s: float = 0.5,
) -> bool:
    """Send what has not been sent yet (email, webhook); True when nothing is left.

    The one alert delivery: regression alerts and rollout rollbacks use it, with
    `payload["event"]` as the webhook's X-Loopgate-Event. `mail` sends the email
    to REGRESSION_ALERT_EMAILS. The webhook is tried up to `attempts` times with
    exponential backoff; a channel that is not configured counts as done.
    Delivery state is saved on `record`, so retries never resend.
    """
    errors = []
    fields = ["delivery_attempts", "last_delivery_error"]
    if record.email_sent_at is None and settings.REGRESSION_ALERT_EMAILS:
        try:
            mail()
            record.email_sent_at = timezone.now()
            fields.append("email_sent_at")
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"email: {exc}")
    url = settings.REGRESSION_ALERT_WEBHOOK_URL
    if record.webhook_delivered_at is None and url:
        secret = settings.REGRESSION_ALERT_WEBHOOK_SECRET
        body = json.dumps(payload, sort_keys=True).encode()
        for attempt in range(1, attempts + 1):
            record.delivery_attempts += 1
            if not secret:
                errors.append("webhook: REGRESSION_ALERT_WEBHOOK_SECRET is not set")
                break
            try:
                _post(url, body, secret, record.pk, str(payload["event"]))
            except WebhookError as exc:
                if attempt == attempts:
                    errors.append(f"webhook: {exc}")
                else:
                    time.sleep(backoff_s * 2 ** (attempt - 1))
                continue
            record.webhook_delivered_at = timezone.now()
            fields.append("webhook_delivered_at")
            break
    record.last_delivery_error = "; ".join(errors)
    record.save(update_fields=fields)
    if errors:
        logger.warning("alert %s not fully delivered: %s", record.pk, errors)
    return not errors
