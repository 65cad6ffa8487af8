"""Admin: events are read-only; senior analysts work the review queue here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from audit.admin import ReadOnlyAdmin
from config.exceptions import DomainError
from feedback import selectors, services
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem


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
class ReviewItemAdmin(SimpleHistoryAdmin):
    list_display = [
        "id",
        "state",
        "disagreement",
        "impact_display",
        "template",
        "task_type",
        "check_status",
        "claimed_by",
        "created_at",
    ]
    list_filter = ["state", "disagreement", "check_status", "template"]
    search_fields = ["=question_hash", "=feedback__event_id"]
    actions = ["claim", "approve", "reject", "escalate"]
    readonly_fields = [
        "question",
        "corrected_sql",
        "generated_sql",
        *(f.name for f in ReviewItem._meta.fields),
    ]
    exclude: list[str] = []

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewItem]:
        return selectors.list_review_queue()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="impact", ordering="impact")
    def impact_display(self, obj: ReviewItem) -> str:
        return f"{getattr(obj, 'impact', 0.0):.2f}"

    @admin.display(description="question")
    def question(self, obj: ReviewItem) -> str:
        return obj.interaction.question

    @admin.display(description="corrected SQL")
    def corrected_sql(self, obj: ReviewItem) -> str:
        return obj.feedback.corrected_sql if obj.feedback else ""

    @admin.display(description="generated SQL")
    def generated_sql(self, obj: ReviewItem) -> str:
        return obj.interaction.generated_sql

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("feedback.review_reviewitem")

    def _each(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem], verb: str, **kw: Any
    ) -> None:
        service = getattr(services, f"{verb}_review_item")
        done = 0
        for item in queryset:
            try:
                service(item=item, acting_user=request.user, **kw)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{item.pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb.capitalize()}: {done} item(s).")

    def _with_reason(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem], verb: str
    ) -> HttpResponse | None:
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._each(request, queryset, verb, reason=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb.capitalize()} review items",
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
