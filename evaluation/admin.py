from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from evaluation.models import TargetDatabase


@admin.register(TargetDatabase)
class TargetDatabaseAdmin(SimpleHistoryAdmin):
    list_display = ["name", "engine", "location", "created_at"]
    list_filter = ["engine"]
    search_fields = ["name", "description"]
