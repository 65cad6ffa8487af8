"""Admin of review quality: guideline versions, the calibration set, the report.

Guideline versions are added here by ML leads (through the service, never
edited); the report page (Review items -> Review quality) shows the agreement
figures of `feedback.agreement` with guideline changes marked on the kappa
trend, and each reviewer's calibration.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from evaluation.runs.charts import Point, Series, line_chart
from feedback import calibration, guidelines
from feedback.agreement import PERIODS, agreement_report
from feedback.exceptions import ReviewError
from feedback.models import CalibrationItem, GuidelineVersion, ReviewItem
from registry.models import PromptTemplate


class GuidelineVersionForm(forms.ModelForm):
    class Meta:
        model = GuidelineVersion
        fields = ["text", "effective_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "text" in data and "effective_at" in data:
            try:
                guidelines.check_version(
                    text=data["text"], effective_at=data["effective_at"]
                )
            except ReviewError as exc:
                self.add_error(exc.field, exc.message)
        return data


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(SimpleHistoryAdmin):
    list_display = ["number", "effective_at", "author", "created_at"]
    list_select_related = ["author"]
    form = GuidelineVersionForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return ["number", "text", "effective_at", "author", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: GuidelineVersion, form: Any, change: bool
    ) -> None:
        if change:
            raise PermissionDenied
        version = guidelines.publish_guideline_version(
            text=obj.text,
            author=authenticated_user(request),
            effective_at=obj.effective_at,
        )
        obj.pk, obj.number = version.pk, version.number
        obj._state.adding = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CalibrationItem)
class CalibrationItemAdmin(SimpleHistoryAdmin):
    list_display = ["id", "item", "expected", "added_by", "created_at"]
    list_select_related = ["item", "added_by"]
    readonly_fields = ["item", "expected", "added_by", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Added from the review items' list (action), where the outcome is known.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _kappa_chart(report: dict[str, Any]) -> str:
    series: dict[str, Series] = {}
    for row in report["periods"]:
        if row["kappa"] is None:
            continue
        at = parse_datetime(row["start"])
        assert at is not None  # noqa: S101 (written by agreement_report)
        tip = (
            f"{row['template']} {row['period']}: kappa {row['kappa']} ({row['pairs']})"
        )
        series.setdefault(row["template"], Series(row["template"])).points.append(
            Point(at, max(0.0, row["kappa"]), tip)
        )
    markers = [
        (at, change["label"])
        for change in report["guideline_changes"]
        if (at := parse_datetime(change["effective_at"])) is not None
    ]
    return line_chart(
        list(series.values()),
        title="Cohen's kappa of blind double reviews (100% = 1; below 0 drawn at 0)",
        y_label="kappa",
        markers=markers,
    )


def quality_report_view(request: HttpRequest) -> HttpResponse:
    """The agreement report (needs `feedback.view_reviewverdict`)."""
    if not request.user.has_perm("feedback.view_reviewverdict"):
        raise PermissionDenied
    period = request.GET.get("period") or "month"
    template = request.GET.get("template") or None
    if period not in PERIODS:
        return HttpResponseBadRequest(f"period must be one of {', '.join(PERIODS)}")
    report = agreement_report(period=period, template=template)
    context = {
        **admin.site.each_context(request),
        "title": "Review quality",
        "opts": ReviewItem._meta,
        "report": report,
        "periods": PERIODS,
        "templates": PromptTemplate.objects.order_by("name").values_list(
            "name", flat=True
        ),
        "calibration": calibration.calibration_report(),
        "chart": mark_safe(_kappa_chart(report)),  # noqa: S308 (texts escaped)
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "feedback/admin/quality.html", context)
