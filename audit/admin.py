from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: everyone may read, nobody may change."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event_type", "actor", "subject_type", "subject_id"]
    list_filter = ["event_type", "subject_type"]
    list_select_related = ["actor"]
    search_fields = ["event_type", "subject_id", "reason"]
    date_hierarchy = "created_at"
