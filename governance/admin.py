"""Admin of governance records: policies, triggers, the decision log, approvals,
release notes, breakers, and the reviewers' queue of promotion requests.

The reviewers' queue: pending promotion requests with their comparison inline.

Approve, reject and override call the services, which enforce four-eyes, roles
and the content hash the reviewer saw; refusals are shown, never a server error.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from audit.admin import ReadOnlyAdmin
from config.exceptions import DomainError
from governance import (
    amendments,
    approvals,
    gates,
    model_cards,
    risk,
    safety_gate,
)
from governance.admin_tables import review_links
from governance.decision_admin import DecisionLogEntryAdmin
from governance.holdout_admin import HoldoutReportAdmin
from governance.models import (
    Approval,
    CircuitBreaker,
    DecisionLogEntry,
    GovernancePolicy,
    ModelCard,
    PromotionRequest,
    ReleaseNote,
    RiskAssessment,
    TriggerEvent,
)
from governance.tiers import rule_for

# Registered with the admin where they are defined.
__all__ = ["DecisionLogEntryAdmin", "HoldoutReportAdmin"]


@admin.register(GovernancePolicy)
class GovernancePolicyAdmin(SimpleHistoryAdmin):
    list_display = [
        "template",
        "regression_threshold",
        "min_segment_n",
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


@admin.register(ModelCard)
class ModelCardAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "version", "final", "exports"]
    list_filter = ["final"]
    list_select_related = ["request__template"]
    fields = ["request", "version", "final", "content_hash", "created_at", "exports"]
    readonly_fields = ["request", "version", "final", "content_hash", "created_at"]
    readonly_fields += ["exports"]

    @admin.display(description="Exports")
    def exports(self, obj: ModelCard) -> str:
        base = f"/api/v1/governance/promotions/{obj.request_id}/model-card"
        return format_html(
            '<a href="{}.html">printable HTML</a> · <a href="{}.md">Markdown</a> · '
            '<a href="{}/">JSON</a> (latest version)',
            base,
            base,
            base,
        )


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "author", "role", "content_hash"]
    list_select_related = ["request__template", "author"]


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


class PendingFirstFilter(admin.SimpleListFilter):
    """The queue opens on pending requests; other states are one click away."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*PromotionRequest.Status.choices, ("all", "All")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[PromotionRequest]
    ) -> QuerySet[PromotionRequest]:
        value = self.value() or PromotionRequest.Status.PENDING
        return queryset if value == "all" else queryset.filter(status=value)

    def choices(self, changelist: Any) -> Any:
        current = self.value() or PromotionRequest.Status.PENDING
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value}
                ),
                "display": label,
            }


@admin.register(PromotionRequest)
class PromotionRequestAdmin(SimpleHistoryAdmin):
    list_display = [
        "id",
        "kind",
        "template",
        "label_name",
        "prompt_version",
        "model_version",
        "tier",
        "gates_passed",
        "requested_by",
        "status",
        "created_at",
        "review_link",
    ]
    list_filter = [PendingFirstFilter, "kind", "tier", "template"]
    list_select_related = [
        "template",
        "prompt_version__template",
        "model_version",
        "requested_by",
    ]
    search_fields = ["rationale", "template__name"]
    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("governance.approve_promotionrequest")

    @admin.display(description="Review")
    def review_link(self, obj: PromotionRequest) -> str:
        url = reverse("admin:governance_promotionrequest_review", args=[obj.pk])
        return format_html('<a href="{}">review</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/review/",
                self.admin_site.admin_view(self.review_view),
                name="governance_promotionrequest_review",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if object_id.isdigit():
            return redirect("admin:governance_promotionrequest_review", int(object_id))
        return super().change_view(request, object_id, form_url, extra_context)

    def _act(self, request: HttpRequest, obj: PromotionRequest) -> None:
        action = request.POST.get("action", "")
        comment = request.POST.get("comment", "")
        seen = request.POST.get("content_hash") or None
        answers = {
            f["name"]: request.POST.get(f"risk_{f['name']}", "")
            for f in risk.risk_fields(obj)
        }
        written = answers if any(v.strip() for v in answers.values()) else None
        acknowledged = bool(request.POST.get("acknowledge_underpowered"))
        if action in ("approve", "reject", "assess") and not (
            self.has_approve_permission(request)
        ):
            raise PermissionDenied
        try:
            if action == "approve":
                approvals.approve_promotion(
                    request=obj,
                    approver=authenticated_user(request),
                    comment=comment,
                    seen_hash=seen,
                    risk_assessment=written,
                    acknowledge_underpowered=acknowledged,
                )
            elif action == "assess":
                approvals.complete_risk_assessment(
                    request=obj,
                    acting_user=authenticated_user(request),
                    answers=answers,
                    seen_hash=seen,
                )
            elif action == "reject":
                approvals.reject_promotion(
                    request=obj,
                    reviewer=authenticated_user(request),
                    comment=comment,
                    seen_hash=seen,
                )
            elif action == "override":
                amendments.override_gates(
                    request=obj,
                    acting_user=authenticated_user(request),
                    reason=comment,
                    seen_hash=seen,
                )
            else:
                self.message_user(request, "Unknown action.", messages.ERROR)
                return
        except DomainError as exc:
            self.message_user(request, f"Refused: {exc.message}", messages.ERROR)
            return
        obj.refresh_from_db()
        self.message_user(
            request, f"Request #{obj.pk}: {action} recorded; status {obj.status}."
        )

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The request with gates, per-segment table, fixed/broken items, alerts."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = get_object_or_404(
            PromotionRequest.objects.select_related(
                "template", "prompt_version", "model_version", "requested_by"
            ),
            pk=pk,
        )
        if request.method == "POST":
            self._act(request, obj)
            return HttpResponseRedirect(request.path)
        given = list(obj.approvals.select_related("approver"))
        valid = [a for a in given if a.content_hash == obj.content_hash]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {obj}",
            "opts": self.model._meta,
            "obj": obj,
            "comparison": gates.compare_runs(obj.candidate_run, obj.champion_run),
            "alerts": gates.alerts_for_run(obj.candidate_run),
            "approvals": given,
            "needed": approvals.roles_needed(
                obj,
                rule_for(obj.tier),
                [a for a in valid if a.verdict == Approval.Verdict.APPROVE],
            ),
            "can_approve": self.has_approve_permission(request),
            "release_note": getattr(obj, "release_note", None),
            "card": model_cards.current_card(obj),
            "assessment": risk.current_assessment(obj),
            "risk_fields": risk.risk_fields(obj),
            "risk_rule": rule_for(obj.tier).risk_assessment,
            "underpowered": gates.underpowered_segments(obj.gates),
            "safety": safety_gate.safety_results(obj.gates),
            "outcomes": DecisionLogEntry.objects.filter(amends=obj.decision_id),
            "links": review_links(obj),
        }
        return TemplateResponse(
            request, "admin/governance/promotionrequest_review.html", context
        )

    def _bulk(
        self, request: HttpRequest, queryset: QuerySet[PromotionRequest], verb: str
    ) -> TemplateResponse | None:
        if "comment" not in request.POST:
            return TemplateResponse(
                request,
                "admin/governance/promotionrequest_bulk.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"{verb.title()} {queryset.count()} request(s)",
                    "opts": self.model._meta,
                    "queryset": queryset,
                    "verb": verb,
                    "action": f"{verb}_selected",
                },
            )
        comment = request.POST["comment"]
        acknowledged = bool(request.POST.get("acknowledge_underpowered"))
        for obj in queryset:
            try:
                if verb == "approve":
                    approvals.approve_promotion(
                        request=obj,
                        approver=authenticated_user(request),
                        comment=comment,
                        acknowledge_underpowered=acknowledged,
                    )
                else:
                    approvals.reject_promotion(
                        request=obj,
                        reviewer=authenticated_user(request),
                        comment=comment,
                    )
            except DomainError as exc:
                self.message_user(request, f"#{obj.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"#{obj.pk}: {verb} recorded.")
        return None

    @admin.action(permissions=["approve"], description="Approve selected (comment)")
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[PromotionRequest]
    ) -> TemplateResponse | None:
        return self._bulk(request, queryset, "approve")

    @admin.action(permissions=["approve"], description="Reject selected (comment)")
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[PromotionRequest]
    ) -> TemplateResponse | None:
        return self._bulk(request, queryset, "reject")
