"""Query-string filters shared by the API's list endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 bound, compared in UTC.

    PostgreSQL refuses offsets past +/-15:59 (`+22:02` was a 500) and a bound
    near year 1 or 9999 may leave datetime's range once converted: such a value
    is a 400 naming the parameter.
    """

    def filter(self, qs: QuerySet[Any], value: datetime | None) -> QuerySet[Any]:
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValidationError(
                    {self._parameter(): ["Lies outside the years 1 to 9999 in UTC."]}
                ) from None
        return super().filter(qs, value)

    def _parameter(self) -> str:
        """The query parameter this filter reads (its name in the filter set)."""
        filters = getattr(getattr(self, "parent", None), "filters", {})
        return next((k for k, f in filters.items() if f is self), self.field_name)
