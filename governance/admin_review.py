"""The reviewers' queue: pending promotion requests with their comparison inline.

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
from config.exceptions import DomainError
from governance import amendments, gates, promotions
from governance.models import PromotionRequest
from governance.tiers import missing_roles, rule_for


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
        if action in ("approve", "reject") and not self.has_approve_permission(request):
            raise PermissionDenied
        try:
            if action == "approve":
                promotions.approve_promotion(
                    request=obj,
                    approver=authenticated_user(request),
                    comment=comment,
                    seen_hash=seen,
                )
            elif action == "reject":
                promotions.reject_promotion(
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
        approvals = list(obj.approvals.select_related("approver"))
        valid = [a for a in approvals if a.content_hash == obj.content_hash]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {obj}",
            "opts": self.model._meta,
            "obj": obj,
            "comparison": gates.compare_runs(obj.candidate_run, obj.champion_run),
            "alerts": gates.alerts_for_run(obj.candidate_run),
            "approvals": approvals,
            "needed": missing_roles(
                rule_for(obj.tier), [a.role for a in valid if a.verdict == "approve"]
            ),
            "can_approve": self.has_approve_permission(request),
            "release_note": getattr(obj, "release_note", None),
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
        for obj in queryset:
            try:
                if verb == "approve":
                    promotions.approve_promotion(
                        request=obj,
                        approver=authenticated_user(request),
                        comment=comment,
                    )
                else:
                    promotions.reject_promotion(
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
