"""Read-only API over the retraining loop: cycles and their dataset snapshots.

No view declares `write_permission`, so every write method is refused;
cycles are started by `manage.py run_cycle` or the weekly schedule only.
"""

from django.db.models import QuerySet
from rest_framework import generics

from governance.cycle import selectors
from governance.cycle.filters import (
    DatasetSnapshotFilter,
    RetrainingCycleFilter,
)
from governance.cycle.models import (
    DatasetSnapshot,
    RetrainingCycle,
)
from governance.cycle.serializers import (
    DatasetSnapshotDetailSerializer,
    DatasetSnapshotSerializer,
    RetrainingCycleSerializer,
)


class RetrainingCycleListView(generics.ListAPIView):
    required_permission = "governance.view_retrainingcycle"
    serializer_class = RetrainingCycleSerializer
    filterset_class = RetrainingCycleFilter

    def get_queryset(self) -> QuerySet[RetrainingCycle]:
        return selectors.list_retraining_cycles()


class RetrainingCycleDetailView(generics.RetrieveAPIView):
    required_permission = "governance.view_retrainingcycle"
    serializer_class = RetrainingCycleSerializer

    def get_queryset(self) -> QuerySet[RetrainingCycle]:
        return selectors.list_retraining_cycles()


class DatasetSnapshotListView(generics.ListAPIView):
    required_permission = "governance.view_datasetsnapshot"
    serializer_class = DatasetSnapshotSerializer
    filterset_class = DatasetSnapshotFilter

    def get_queryset(self) -> QuerySet[DatasetSnapshot]:
        return selectors.list_dataset_snapshots()


class DatasetSnapshotDetailView(generics.RetrieveAPIView):
    required_permission = "governance.view_datasetsnapshot"
    serializer_class = DatasetSnapshotDetailSerializer

    def get_queryset(self) -> QuerySet[DatasetSnapshot]:
        return selectors.list_dataset_snapshots(with_manifest=True)
