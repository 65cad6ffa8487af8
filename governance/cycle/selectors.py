"""Reads of retraining cycles and dataset snapshots, shaped for their callers."""

from django.db.models import Prefetch, QuerySet

from governance.cycle.models import DatasetSnapshot, RetrainingCycle


def list_retraining_cycles() -> QuerySet[RetrainingCycle]:
    """Cycles, newest first, with what the API shows joined (constant queries).

    The dataset's rows and manifest are deferred: a cycle shows only the
    snapshot's id and hash, and the rows can be large.
    """
    return RetrainingCycle.objects.select_related(
        "template", "requested_by", "dataset", "decision"
    ).defer("dataset__rows", "dataset__manifest")


def list_dataset_snapshots(*, with_manifest: bool = False) -> QuerySet[DatasetSnapshot]:
    """Dataset snapshots, newest first, with the cycles that used them.

    The rows (the training data itself) are never loaded; the manifest only
    when `with_manifest` (detail reads), since lists do not show it.
    """
    deferred = ["rows"] if with_manifest else ["rows", "manifest"]
    return (
        DatasetSnapshot.objects.select_related("template", "created_by")
        .defer(*deferred)
        .prefetch_related(
            Prefetch("cycles", queryset=RetrainingCycle.objects.only("id", "dataset"))
        )
    )
