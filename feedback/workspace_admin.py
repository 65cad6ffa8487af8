"""The review workspace in the admin: the ranked list's columns and filters, and
the item page with its actions (which call the review services)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.html import format_html

from accounts.permissions import authenticated_user
from config.exceptions import DomainError
from feedback import double_review, services, workspace
from feedback.models import Interaction, ReviewItem

Act = Callable[[ReviewItem, User, str], ReviewItem]
ACTIONS: dict[str, Act] = {
    "claim": lambda i, u, r: services.claim_review_item(item=i, acting_user=u),
    "release": lambda i, u, r: services.release_review_item(item=i, acting_user=u),
    "approve": lambda i, u, r: services.approve_review_item(
        item=i, acting_user=u, reason=r
    ),
    "reject": lambda i, u, r: services.reject_review_item(
        item=i, acting_user=u, reason=r
    ),
    "escalate": lambda i, u, r: services.escalate_review_item(
        item=i, acting_user=u, reason=r
    ),
    "verdict_approve": lambda i, u, r: double_review.submit_verdict(
        item=i, acting_user=u, verdict="approve", reason=r
    ),
    "verdict_reject": lambda i, u, r: double_review.submit_verdict(
        item=i, acting_user=u, verdict="reject", reason=r
    ),
}


class SegmentFilter(admin.SimpleListFilter):
    """Segment = (template, task type), as the impact ranking counts it."""

    title = "segment"
    parameter_name = "segment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        pairs = (
            ReviewItem.objects.order_by()
            .values_list("template_id", "template__name", "task_type")
            .distinct()
        )
        return sorted((f"{pk}:{task}", f"{name} / {task}") for pk, name, task in pairs)

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> QuerySet[ReviewItem]:
        value = self.value()
        if not value:
            return queryset
        pk, _, task = value.partition(":")
        if not pk.isdigit() or not task:
            return queryset.none()
        return queryset.filter(template_id=int(pk), task_type=task)


class TenantFilter(admin.SimpleListFilter):
    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        tenants = (
            Interaction.objects.filter(
                pk__in=ReviewItem.objects.values("interaction_id")
            )
            .order_by("tenant_id")
            .values_list("tenant_id", flat=True)
            .distinct()
        )
        return [(t, t) for t in tenants]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ReviewItem]
    ) -> QuerySet[ReviewItem]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(interaction__tenant_id=value)


class ReviewWorkspaceMixin:
    """List columns, ordering and the item page of the ReviewItem admin."""

    admin_site: admin.AdminSite
    model: type[ReviewItem]
    workspace_template = "admin/feedback/reviewitem_workspace.html"

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["state_rank", "-impact", "created_at", "pk"]

    @admin.display(description="question")
    def question_short(self, obj: ReviewItem) -> str:
        text = obj.interaction.question
        return text if len(text) <= 80 else f"{text[:79]}…"

    @admin.display(description="correction SQL")
    def sql_short(self, obj: ReviewItem) -> str:
        sql = obj.feedback.corrected_sql if obj.feedback else ""
        sql = sql or obj.interaction.generated_sql
        return format_html("<code>{}</code>", sql if len(sql) <= 70 else sql[:69] + "…")

    @admin.display(description="result")
    def result_short(self, obj: ReviewItem) -> str:
        if obj.check_status == ReviewItem.Check.EXECUTED:
            return f"{obj.result_rows} row(s)"
        if obj.check_status == ReviewItem.Check.FAILED:
            return "failed"
        return "not run"

    @admin.display(description="segment (tenant)")
    def segment(self, obj: ReviewItem) -> str:
        return format_html(
            "{} / {}<br><small>{}</small>",
            obj.template.name,
            obj.task_type,
            obj.interaction.tenant_id,
        )

    @admin.display(description="impact", ordering="impact")
    def impact_explained(self, obj: ReviewItem) -> str:
        return format_html(
            '<strong class="impact">{}</strong><br>'
            '<small style="white-space: nowrap" title="{}">{}</small>',
            f"{getattr(obj, 'impact', 0.0):.2f}",
            workspace.impact_explanation(obj),
            workspace.impact_formula(obj),
        )

    @admin.display(description="state", ordering="state_rank")
    def state_flags(self, obj: ReviewItem) -> str:
        flags = [
            label
            for label, on in (
                ("audit", obj.kind == ReviewItem.Kind.AUDIT),
                ("double review", obj.double_review),
                ("disagreement", obj.disagreement),
            )
            if on
        ]
        return format_html(
            "{}<br><small>{}</small>", obj.get_state_display(), ", ".join(flags)
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The item page (the portal links here): workspace and actions."""
        if not object_id.isdigit():
            raise Http404
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        item = get_object_or_404(workspace.list_workspace_queue(), pk=int(object_id))
        can_review = self.has_review_permission(request)  # type: ignore[attr-defined]
        if request.method == "POST":
            if not can_review:
                raise PermissionDenied
            self._act(request, item)
            return HttpResponseRedirect(request.path)
        user = authenticated_user(request)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review item #{item.pk}",
            "opts": self.model._meta,
            "ws": workspace.workspace_for(item=item),
            "impact": workspace.impact_explanation(item),
            "can_review": can_review,
            "can": workspace.can_act(item=item, user=user),
        }
        return TemplateResponse(request, self.workspace_template, context)

    def _act(self, request: HttpRequest, item: ReviewItem) -> None:
        verb = request.POST.get("action", "")
        act = ACTIONS.get(verb)
        if act is None:
            messages.error(request, f"Unknown action: {verb[:40]!r}.")
            return
        user = authenticated_user(request)
        try:
            done = act(item, user, request.POST.get("reason", ""))
        except DomainError as exc:
            field = f" ({exc.field})" if exc.field else ""
            messages.error(request, f"Refused{field}: {exc.message}")
            return
        label = verb.replace("_", " ")
        messages.success(request, f"#{done.pk}: {label} recorded; now {done.state}.")
