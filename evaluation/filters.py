import django_filters
from django.db.models import QuerySet

from evaluation import selectors
from evaluation.models import GoldenExample

BOOLEAN = [("true", "true"), ("false", "false")]


class GoldenExampleFilter(django_filters.FilterSet):
    target_database = django_filters.CharFilter(field_name="target_database__name")
    # Choice filters, not BooleanFilter: a mistyped value must be a 400, not ignored.
    stale = django_filters.ChoiceFilter(choices=BOOLEAN, method="filter_stale")
    retired = django_filters.ChoiceFilter(choices=BOOLEAN, method="filter_retired")

    class Meta:
        model = GoldenExample
        fields = ["domain", "difficulty", "target_database", "source", "kind"]

    def filter_stale(
        self, queryset: QuerySet[GoldenExample], name: str, value: str
    ) -> QuerySet[GoldenExample]:
        return selectors.filter_stale(queryset, stale=value == "true")

    def filter_retired(
        self, queryset: QuerySet[GoldenExample], name: str, value: str
    ) -> QuerySet[GoldenExample]:
        return queryset.filter(retired_at__isnull=value != "true")
