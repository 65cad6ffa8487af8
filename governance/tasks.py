import logging

from celery import shared_task

from governance import cycle, notifications, triggers
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


@shared_task(name="governance.run_weekly_cycles")
def run_weekly_cycles() -> None:
    """Advance every production template's retraining cycle (beat entry, 0008)."""
    for template_id in cycle.templates_to_retrain():
        advance_cycle.delay(template_id)


@shared_task(name="governance.advance_cycle")
def advance_cycle(template_id: int, attempt: int = 0) -> None:
    """Advance one template's cycle without blocking this worker; while its
    evaluation runs are on other workers, look again later (bounded)."""
    if cycle.advance_scheduled_cycle(template_id=template_id) and (
        attempt < cycle.MAX_ADVANCES
    ):
        advance_cycle.apply_async(
            (template_id, attempt + 1), countdown=cycle.ADVANCE_EVERY_S
        )
