"""Admin of the holdout: weekly drift reports and one page per template.

The page shows the holdout beside production over the last 28 days (Wilson
intervals, two-proportion tests), the weekly reports, and the two governed
actions: establishing the holdout (ML leads) and asking for a baseline change,
which then waits in the reviewers' queue like any promotion request.
"""

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.permissions import authenticated_user
from audit.admin import ReadOnlyAdmin
from config.exceptions import DomainError
from governance import holdout
from governance.holdout_stats import compare_holdout
from governance.models import HoldoutReport, PromotionRequest
from registry.models import Label, PromptTemplate

PAGE_DAYS = 28


@admin.register(HoldoutReport)
class HoldoutReportAdmin(ReadOnlyAdmin):
    list_display = [
        "week_start",
        "template_page",
        "negative_rate_gap",
        "success_rate_gap",
        "significant",
    ]
    list_filter = ["significant", "template"]
    list_select_related = ["template"]
    date_hierarchy = "week_start"
    change_list_template = "admin/governance/holdoutreport_change_list.html"

    @admin.display(description="template")
    def template_page(self, obj: HoldoutReport) -> str:
        url = reverse("admin:governance_holdout_template", args=[obj.template.name])
        return format_html('<a href="{}">{}</a>', url, obj.template.name)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "template/<slug:name>/",
                self.admin_site.admin_view(self.template_view),
                name="governance_holdout_template",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pages = [
            (name, reverse("admin:governance_holdout_template", args=[name]))
            for name in PromptTemplate.objects.values_list("name", flat=True)
        ]
        return super().changelist_view(
            request, {**(extra_context or {}), "template_pages": pages}
        )

    def _act(self, request: HttpRequest, template: PromptTemplate) -> None:
        action = request.POST.get("action")
        user = authenticated_user(request)
        try:
            if action == "establish":
                if not user.has_perm("governance.establish_holdout"):
                    raise PermissionDenied
                holdout.establish_holdout(template=template, acting_user=user)
                self.message_user(request, "Holdout established.")
            elif action == "baseline":
                if not user.has_perm("governance.add_promotionrequest"):
                    raise PermissionDenied
                made = holdout.request_baseline_change(
                    template=template,
                    rationale=request.POST.get("rationale", ""),
                    requested_by=user,
                )
                self.message_user(
                    request, f"Baseline change request #{made.pk} awaits approval."
                )
            else:
                self.message_user(request, "Unknown action.", messages.ERROR)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def template_view(self, request: HttpRequest, name: str) -> HttpResponse:
        """The template's holdout beside production, its reports and actions."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        template = get_object_or_404(PromptTemplate, name=name)
        if request.method == "POST":
            self._act(request, template)
            return HttpResponseRedirect(request.path)
        labels = {
            label.name: label
            for label in Label.objects.filter(template=template).select_related(
                "prompt_version", "model_version"
            )
        }
        user = authenticated_user(request)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Holdout of {template.name}",
            "opts": self.model._meta,
            "template_obj": template,
            "holdout_label": labels.get(Label.Name.HOLDOUT),
            "production_label": labels.get(Label.Name.PRODUCTION),
            "days": PAGE_DAYS,
            "comparison": compare_holdout(
                template=template, since=timezone.now() - timedelta(days=PAGE_DAYS)
            ),
            "reports": HoldoutReport.objects.filter(template=template)[:26],
            "pending": PromotionRequest.objects.filter(
                template=template,
                kind=PromotionRequest.Kind.BASELINE,
                status=PromotionRequest.Status.PENDING,
            ).first(),
            "can_establish": user.has_perm("governance.establish_holdout"),
            "can_request": user.has_perm("governance.add_promotionrequest"),
        }
        return TemplateResponse(
            request, "admin/governance/holdout_template.html", context
        )
