"""Celery interfaces of evaluation runs and alerts: load ids, call a service.

`process_chunk` acknowledges late and is rejected (requeued) when its worker dies:
the service is idempotent per (run, example) and bounds redeliveries itself
(EVALUATION_MAX_DELIVERIES), which Celery's reject-on-worker-lost does not.
"""

import logging

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from evaluation.models import EvaluationRun, RegressionAlert
from evaluation.runs import alerts, chunks, services

logger = logging.getLogger(__name__)


@shared_task(name="evaluation.dispatch_run", acks_late=True)
def dispatch_run(run_id: int) -> None:
    """Fan a run out into one task per pending chunk."""
    run = EvaluationRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("evaluation run %s does not exist", run_id)
        return
    services.enqueue_chunks(run=run)


@shared_task(
    name="evaluation.process_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def process_chunk(chunk_id: int) -> None:
    """Evaluate one chunk (idempotent; a lost database connection is retried)."""
    chunks.process_chunk(chunk_id=chunk_id)


@shared_task(bind=True, name="evaluation.send_regression_alert", acks_late=True)
def send_regression_alert(self: Task, alert_id: int) -> None:
    """Mail and post one alert; retry the webhook later while it stays down."""
    alert = RegressionAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        logger.warning("regression alert %s does not exist", alert_id)
        return
    delivered = alerts.deliver_alert(alert=alert)
    if not delivered and not self.request.is_eager and self.request.retries < 8:
        raise self.retry(countdown=min(600, 30 * 2**self.request.retries))
