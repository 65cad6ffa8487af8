"""Celery interfaces: ids and primitives in, services do the work."""

from celery import shared_task

from feedback import export, services


@shared_task(name="feedback.check_review_items", acks_late=True)
def check_review_items(item_ids: list[int]) -> None:
    """Execute new corrections and flag disagreements (idempotent: skips checked)."""
    services.check_review_items(item_ids=item_ids)


@shared_task(name="feedback.export_daily", acks_late=True)
def export_daily() -> None:
    """Export yesterday's (UTC) wide table; rerunning rewrites identical files."""
    export.export_window(**export.previous_day())
