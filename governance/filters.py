import django_filters
from django.db.models import QuerySet

from config.filters import UTCDateTimeFilter
from governance.models import DecisionLogEntry, PromotionRequest, TriggerEvent


class DecisionLogFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")
    decided_after = UTCDateTimeFilter(field_name="decided_at", lookup_expr="gte")
    decided_before = UTCDateTimeFilter(field_name="decided_at", lookup_expr="lt")
    approver = django_filters.CharFilter(method="filter_approver")

    class Meta:
        model = DecisionLogEntry
        fields = ["template", "kind", "decision", "outcome", "approver"]

    def filter_approver(
        self, queryset: QuerySet[DecisionLogEntry], name: str, value: str
    ) -> QuerySet[DecisionLogEntry]:
        return queryset.filter(approver_names__contains=f",{value},")


class PromotionRequestFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")

    class Meta:
        model = PromotionRequest
        fields = ["template", "status", "kind", "tier"]


class TriggerEventFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")

    class Meta:
        model = TriggerEvent
        fields = ["template", "kind"]
