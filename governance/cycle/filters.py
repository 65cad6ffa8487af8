import django_filters

from config.filters import UTCDateTimeFilter
from governance.cycle.models import DatasetSnapshot, RetrainingCycle
from governance.models import DecisionLogEntry


class RetrainingCycleFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")
    decision = django_filters.ChoiceFilter(
        field_name="decision__decision", choices=DecisionLogEntry.Decision.choices
    )
    started_after = UTCDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UTCDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = RetrainingCycle
        fields = ["template", "status", "trigger", "decision"]


class DatasetSnapshotFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")

    class Meta:
        model = DatasetSnapshot
        # The hash is what a decision entry cites (`data_snapshot_hash`).
        fields = ["template", "content_hash"]
