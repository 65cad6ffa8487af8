import logging

from celery import shared_task

from governance import notifications, triggers
from governance.models import PromotionRequest

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
