"""Celery interfaces of the retraining cycle (task names kept from governance)."""

from celery import shared_task

from governance.cycle import services


@shared_task(name="governance.run_weekly_cycles")
def run_weekly_cycles() -> None:
    """Advance every production template's retraining cycle (beat entry, 0008)."""
    for template_id in services.templates_to_retrain():
        advance_cycle.delay(template_id)


@shared_task(name="governance.advance_cycle")
def advance_cycle(template_id: int, attempt: int = 0) -> None:
    """Advance one template's cycle without blocking this worker; while its
    evaluation runs are on other workers, look again later (bounded)."""
    if services.advance_scheduled_cycle(template_id=template_id) and (
        attempt < services.MAX_ADVANCES
    ):
        advance_cycle.apply_async(
            (template_id, attempt + 1), countdown=services.ADVANCE_EVERY_S
        )
