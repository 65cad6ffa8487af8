"""Celery interfaces: ids and primitives in, services do the work."""

import logging

from celery import shared_task

from feedback import audits, export, privacy, services
from feedback.exceptions import PrivacyConflictError
from feedback.models import PrivacyRequest

logger = logging.getLogger(__name__)


@shared_task(name="feedback.check_review_items", acks_late=True)
def check_review_items(item_ids: list[int]) -> None:
    """Execute new corrections and flag disagreements (idempotent: skips checked)."""
    services.check_review_items(item_ids=item_ids)


@shared_task(name="feedback.export_daily", acks_late=True)
def export_daily() -> None:
    """Export yesterday's (UTC) wide table; rerunning rewrites identical files."""
    export.export_window(**export.previous_day())


@shared_task(name="feedback.sample_audit_items", acks_late=True)
def sample_audit_items() -> None:
    """Draw yesterday's (UTC) stratified audit sample (idempotent per window)."""
    start, end = audits.previous_day()
    audits.sample_audit_items(start=start, end=end)


@shared_task(name="feedback.run_privacy_request", acks_late=True)
def run_privacy_request(request_id: int) -> None:
    """Carry out a pending erasure (routed to the table owner's worker); a
    second delivery finds it completed and does nothing."""
    try:
        privacy.run_erasure(request_id=request_id)
    except PrivacyRequest.DoesNotExist:
        logger.warning("privacy request %d does not exist", request_id)
    except PrivacyConflictError as exc:
        logger.info("privacy request %d: %s", request_id, exc.message)


@shared_task(name="feedback.enforce_retention", acks_late=True)
def enforce_retention() -> None:
    """Erase event text past the retention period (idempotent: erased text is
    not selected again)."""
    privacy.enforce_retention()
