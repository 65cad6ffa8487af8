"""Admin: events are read-only; senior analysts work the review queue here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from audit.admin import ReadOnlyAdmin
from config.exceptions import DomainError
from feedback import calibration, double_review, services, workspace
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from feedback.quality_admin import quality_report_view
from feedback.workspace_admin import (
    ReviewWorkspaceMixin,
    SegmentFilter,
    TenantFilter,
)


class AppendOnlyAdmin(admin.ModelAdmin):
    """Append-only events: readable by their viewers, writable by no one here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Interaction)
class InteractionAdmin(AppendOnlyAdmin):
    list_display = [
        "event_id",
        "occurred_at",
        "template",
        "task_type",
        "outcome",
        "consent_scope",
        "tenant_id",
    ]
    list_filter = ["outcome", "consent_scope", "channel", "template"]
    list_select_related = ["template"]
    search_fields = ["=event_id", "=question_hash", "=trace_id", "=session_id"]
    date_hierarchy = "occurred_at"


@admin.register(Feedback)
class FeedbackAdmin(AppendOnlyAdmin):
    list_display = ["event_id", "occurred_at", "type", "submitter_role", "channel"]
    list_filter = ["type", "category", "submitter_role", "channel"]
    search_fields = ["=event_id", "=interaction__event_id"]
    date_hierarchy = "occurred_at"


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, max_length=5000)


@admin.register(ReviewItem)
class ReviewItemAdmin(ReviewWorkspaceMixin, SimpleHistoryAdmin):
    """The review workspace: pending first, by impact; the item page decides."""

    list_display = [
        "id",
        "question_short",
        "sql_short",
        "result_short",
        "template",
        "segment",
        "impact_explained",
        "state_flags",
        "claimed_by",
    ]
    list_filter = [
        "state",
        "template",
        SegmentFilter,
        TenantFilter,
        "kind",
        "double_review",
        "disagreement",
        "check_status",
        "guideline_version",
    ]
    search_fields = ["=question_hash", "=feedback__event_id"]
    actions = [
        "claim",
        "approve",
        "reject",
        "escalate",
        "verdict_approve",
        "verdict_reject",
        "add_to_calibration",
    ]
    change_list_template = "feedback/admin/reviewitem_changelist.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewItem]:
        return workspace.list_workspace_queue()

    def get_urls(self) -> list[Any]:
        report = path(
            "quality/",
            self.admin_site.admin_view(quality_report_view),
            name="feedback_reviewitem_quality",
        )
        return [report, *super().get_urls()]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("feedback.review_reviewitem")

    def has_calibrate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("feedback.add_calibrationitem")

    def _each(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem], verb: str, **kw: Any
    ) -> None:
        service = self.SERVICES.get(verb) or getattr(services, f"{verb}_review_item")
        done = 0
        for item in queryset:
            try:
                service(item=item, acting_user=request.user, **kw)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{item.pk}: {exc.message}", messages.ERROR)
        if done:
            label = verb.replace("_", " ").capitalize()
            self.message_user(request, f"{label}: {done} item(s).")

    SERVICES: dict[str, Any] = {
        "verdict_approve": lambda **kw: double_review.submit_verdict(
            verdict="approve", **kw
        ),
        "verdict_reject": lambda **kw: double_review.submit_verdict(
            verdict="reject", **kw
        ),
    }

    def _with_reason(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem], verb: str
    ) -> HttpResponse | None:
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._each(request, queryset, verb, reason=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb.replace('_', ' ').capitalize()}: review items",
            "items": queryset,
            "form": form,
            "action": verb,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "feedback/admin/reason.html", context)

    @admin.action(permissions=["review"], description="Claim selected items")
    def claim(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> None:
        self._each(request, queryset, "claim")

    @admin.action(
        permissions=["review"],
        description="Approve (the SQL must run on the target database)",
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> None:
        self._each(request, queryset, "approve")

    @admin.action(permissions=["review"], description="Reject with a reason")
    def reject(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> HttpResponse | None:
        return self._with_reason(request, queryset, "reject")

    @admin.action(permissions=["review"], description="Send to adjudication")
    def escalate(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> HttpResponse | None:
        return self._with_reason(request, queryset, "escalate")

    @admin.action(permissions=["review"], description="Blind verdict: approve")
    def verdict_approve(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> None:
        self._each(request, queryset, "verdict_approve")

    @admin.action(
        permissions=["review"], description="Blind verdict: reject with a reason"
    )
    def verdict_reject(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> HttpResponse | None:
        return self._with_reason(request, queryset, "verdict_reject")

    @admin.action(
        permissions=["calibrate"],
        description="Add to the calibration set (decided items)",
    )
    def add_to_calibration(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> None:
        added = 0
        for item in queryset:
            try:
                calibration.add_calibration_item(
                    item=item, acting_user=authenticated_user(request)
                )
                added += 1
            except DomainError as exc:
                self.message_user(request, f"#{item.pk}: {exc.message}", messages.ERROR)
        if added:
            self.message_user(request, f"Added to the calibration set: {added}.")


@admin.register(FeedbackTopic)
class FeedbackTopicAdmin(ReadOnlyAdmin):
    """Feedback categories as assigned, client's and reviewers', newest first."""

    list_display = [
        "created_at",
        "feedback",
        "topic",
        "previous_topic",
        "source",
        "assigned_by",
        "taxonomy_version",
    ]
    list_filter = ["topic", "source", "taxonomy_version"]
    list_select_related = ["feedback", "assigned_by"]
    search_fields = ["reason"]


# Registered here, where Django looks for admin modules.
from feedback import privacy_admin, quality_admin  # noqa: E402, F401
