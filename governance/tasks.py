import logging

from celery import Task, shared_task

from governance import notifications, rollout_steps, triggers
from governance.models import PromotionRequest, RolloutAlert

logger = logging.getLogger(__name__)


@shared_task(name="governance.notify_approvers")
def notify_approvers(request_id: int) -> None:
    """Mail the approvers a promotion request needs; harmless when repeated."""
    request = PromotionRequest.objects.filter(pk=request_id).first()
    if request is None:
        logger.warning("promotion request %s vanished before notification", request_id)
        return
    notifications.send_approval_request(request=request)


@shared_task(name="governance.check_triggers")
def check_triggers() -> None:
    """Run every retraining-trigger check (the beat entry seeded in migration 0006)."""
    fired = triggers.check_triggers()
    logger.info("retraining trigger check: %s fired", len(fired))


@shared_task(name="governance.advance_rollouts", acks_late=True)
def advance_rollouts() -> None:
    """Check every open rollout's stage (beat, migration 0017); idempotent."""
    done = rollout_steps.advance_rollouts()
    logger.info("rollout check: %s", done)


@shared_task(bind=True, name="governance.send_rollout_alert", acks_late=True)
def send_rollout_alert(self: Task, alert_id: int) -> None:
    """Mail and post one rollback alert; retry later while the webhook is down."""
    alert = RolloutAlert.objects.select_related("rollout").filter(pk=alert_id).first()
    if alert is None:
        logger.warning("rollout alert %s does not exist", alert_id)
        return
    delivered = rollout_steps.deliver_rollout_alert(alert=alert)
    if not delivered and not self.request.is_eager and self.request.retries < 8:
        raise self.retry(countdown=min(600, 30 * 2**self.request.retries))
