from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from audit.admin import ReadOnlyAdmin
from governance import decisions
from governance.models import (
    Approval,
    CircuitBreaker,
    DecisionLogEntry,
    GovernancePolicy,
    ReleaseNote,
    TriggerEvent,
)


@admin.register(GovernancePolicy)
class GovernancePolicyAdmin(SimpleHistoryAdmin):
    list_display = [
        "template",
        "regression_threshold",
        "latency_slo_ms",
        "degradation_threshold",
        "data_volume_threshold",
        "calendar_cadence_days",
        "circuit_breaker_margin",
    ]
    list_select_related = ["template"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TriggerEvent)
class TriggerEventAdmin(ReadOnlyAdmin):
    list_display = ["fired_at", "template", "kind", "raised_by", "reason"]
    list_filter = ["kind", "template"]
    list_select_related = ["template", "raised_by"]
    date_hierarchy = "fired_at"


@admin.register(DecisionLogEntry)
class DecisionLogEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "sequence",
        "decided_at",
        "template",
        "kind",
        "decision",
        "outcome",
        "decided_by",
        "deployment",
        "short_hash",
    ]
    list_filter = ["kind", "decision", "outcome", "template"]
    search_fields = ["rationale", "approver_names"]
    date_hierarchy = "decided_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DecisionLogEntry]:
        return decisions.list_decision_log()

    @admin.display(description="Deployed")
    def deployment(self, obj: DecisionLogEntry) -> Any:
        return obj.deployed_at or getattr(obj, "deployment_at", None) or "-"

    @admin.display(description="Hash")
    def short_hash(self, obj: DecisionLogEntry) -> str:
        return f"{obj.entry_hash[:12]}…"


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "approver", "role", "verdict"]
    list_filter = ["verdict", "role"]
    list_select_related = ["request__template", "approver"]


@admin.register(ReleaseNote)
class ReleaseNoteAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "decision", "markdown_link"]
    list_select_related = ["request__template", "decision__template"]
    fields = ["request", "decision", "created_at", "rendered"]
    readonly_fields = ["request", "decision", "created_at", "rendered"]

    @admin.display(description="Release notes")
    def rendered(self, obj: ReleaseNote) -> str:
        return format_html("<pre>{}</pre>", obj.markdown)

    @admin.display(description="Markdown")
    def markdown_link(self, obj: ReleaseNote) -> str:
        url = reverse("admin:governance_releasenote_markdown", args=[obj.pk])
        return format_html('<a href="{}">download .md</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/markdown/",
                self.admin_site.admin_view(self.markdown_view),
                name="governance_releasenote_markdown",
            ),
            *super().get_urls(),
        ]

    def markdown_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        note = get_object_or_404(ReleaseNote, pk=pk)
        response = HttpResponse(note.markdown, content_type="text/markdown")
        response["Content-Disposition"] = (
            f'attachment; filename="release-notes-{note.request_id}.md"'
        )
        return response


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdmin):
    list_display = ["template", "halted", "halted_at", "reset_at", "reset_by"]
    list_filter = ["halted"]
    list_select_related = ["template", "reset_by"]


# Registers the promotion review screens and the retraining cycle's pages.
from governance import admin_review, cycle_admin  # noqa: E402, F401
