"""Target database reads, shaped for their callers."""

from django.db.models import QuerySet

from targets.models import TargetDatabase


def list_target_databases() -> QuerySet[TargetDatabase]:
    """Target databases, by name (no joins needed)."""
    return TargetDatabase.objects.all()
