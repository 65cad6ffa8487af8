"""Admin pages of the retraining cycle: read-only records of what it did.

Imported by `governance.admin`. Cycles are started with `manage.py run_cycle`
or by the weekly schedule, never from a form.
"""

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from governance.cycle.models import (
    DatasetSnapshot,
    RetrainingCycle,
)


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, default=str))


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "template", "short_hash", "rows_count", "window_end"]
    list_filter = ["template"]
    list_select_related = ["template"]
    readonly_fields = (
        "template",
        "content_hash",
        "window_start",
        "window_end",
        "code_version",
        "previous",
        "created_by",
        "created_at",
        "manifest_json",
    )
    fields = readonly_fields

    @admin.display(description="hash")
    def short_hash(self, obj: DatasetSnapshot) -> str:
        return obj.content_hash[:12]

    @admin.display(description="rows")
    def rows_count(self, obj: DatasetSnapshot) -> int:
        return len(obj.rows)

    @admin.display(description="manifest")
    def manifest_json(self, obj: DatasetSnapshot) -> str:
        return _pretty(obj.manifest)


@admin.register(RetrainingCycle)
class RetrainingCycleAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = [
        "id",
        "template",
        "status",
        "trigger",
        "decision_link",
        "promotion_request",
        "started_at",
    ]
    list_filter = ["status", "trigger", "template"]
    list_select_related = ["template", "decision", "promotion_request"]
    fields = [
        "template",
        "status",
        "trigger",
        "requested_by",
        "dataset",
        "golden_snapshot",
        "champion_prompt",
        "champion_model",
        "challenger_prompt",
        "challenger_model",
        "champion_run",
        "challenger_run",
        "decision",
        "promotion_request",
        "started_at",
        "finished_at",
        "error",
        "steps_table",
        "validation_json",
        "comparison_json",
        "online_json",
        "export_json",
        "options",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RetrainingCycle]:
        return super().get_queryset(request).select_related("template", "decision")

    @admin.display(description="decision")
    def decision_link(self, obj: RetrainingCycle) -> str:
        if obj.decision is None:
            return "-"
        return f"#{obj.decision.sequence} {obj.decision.decision}"

    @admin.display(description="steps")
    def steps_table(self, obj: RetrainingCycle) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} ms</td><td><code>{}</code></td>"
            "<td>{}</td></tr>",
            (
                (
                    s["name"],
                    s["status"],
                    s["duration_ms"],
                    json.dumps(s["numbers"], default=str),
                    s.get("detail", ""),
                )
                for s in obj.steps
            ),
        )
        return format_html(
            "<table><tr><th>step</th><th>status</th><th>time</th><th>numbers</th>"
            "<th>detail</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="validation")
    def validation_json(self, obj: RetrainingCycle) -> str:
        return _pretty(obj.validation)

    @admin.display(description="comparison")
    def comparison_json(self, obj: RetrainingCycle) -> str:
        return _pretty(obj.comparison)

    @admin.display(description="online comparison (shadow)")
    def online_json(self, obj: RetrainingCycle) -> str:
        return _pretty(obj.online_comparison)

    @admin.display(description="fine-tuning export")
    def export_json(self, obj: RetrainingCycle) -> str:
        return _pretty(obj.training_export)
