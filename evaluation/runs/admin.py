"""Admin for evaluation runs, results and alerts (imported by evaluation.admin).

Runs are started through `services.start_run` (the add form) and otherwise only
read, cancelled or resumed; the comparison page shows a run against the
champion (or any run on the same snapshot) with the figures of the API.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from config.exceptions import DomainError
from evaluation.models import EvaluationResult, EvaluationRun, RegressionAlert
from evaluation.runs import selectors, services
from evaluation.runs.comparison import compare_runs
from evaluation.runs.reports import comparison_markdown


class RunForm(forms.ModelForm):
    class Meta:
        model = EvaluationRun
        fields = ["prompt_version", "model_version", "snapshot", "mode"]


@admin.register(EvaluationRun)
class EvaluationRunAdmin(SimpleHistoryAdmin):
    form = RunForm
    list_display = [
        "id",
        "template",
        "pair",
        "snapshot",
        "mode",
        "status",
        "progress",
        "errors",
        "accuracy",
        "created_at",
    ]
    list_filter = ["status", "mode", "prompt_version__template"]
    list_select_related = ["prompt_version__template", "model_version", "snapshot"]
    search_fields = ["prompt_version__template__name", "model_version__name"]
    actions = ["cancel_runs", "resume_runs"]
    readonly_fields = [
        "status",
        "total",
        "done",
        "errors",
        "summary",
        "sqlglot_version",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "links",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        base = ["prompt_version", "model_version", "snapshot", "mode"]
        return base if obj is None else [*base, *self.readonly_fields]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Any = None
    ) -> list[str] | tuple[str, ...]:
        if obj is None:
            return []
        return [
            "prompt_version",
            "model_version",
            "snapshot",
            "mode",
            *self.readonly_fields,
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("evaluation.cancel_evaluationrun")

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("evaluation.add_evaluationrun")

    def save_model(
        self, request: HttpRequest, obj: EvaluationRun, form: Any, change: bool
    ) -> None:
        if change:
            return
        try:
            run = services.start_run(
                prompt_version=obj.prompt_version,
                model_version=obj.model_version,
                snapshot=obj.snapshot,
                mode=obj.mode,
                acting_user=authenticated_user(request),
            )
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk = run.pk
        obj._state.adding = False

    @admin.display(description="Template")
    def template(self, run: EvaluationRun) -> str:
        return run.prompt_version.template.name

    @admin.display(description="Pair")
    def pair(self, run: EvaluationRun) -> str:
        return f"prompt v{run.prompt_version.number} + {run.model_version.name}"

    @admin.display(description="Progress")
    def progress(self, run: EvaluationRun) -> str:
        share = run.done / run.total if run.total else 0.0
        return format_html(
            '<progress max="1" value="{}"></progress> {} / {}',
            f"{share:.3f}",
            run.done,
            run.total,
        )

    @admin.display(description="Execution accuracy")
    def accuracy(self, run: EvaluationRun) -> str:
        value = run.summary.get("overall", {}).get("execution_accuracy")
        return "-" if value is None else f"{value:.1%}"

    @admin.display(description="See also")
    def links(self, run: EvaluationRun) -> str:
        results = reverse("admin:evaluation_evaluationresult_changelist")
        compare = reverse("admin:evaluation_evaluationrun_compare", args=[run.pk])
        pick = reverse("evaluation:comparison")
        return format_html(
            '<a href="{}?run__id__exact={}">Per-item results</a> · '
            '<a href="{}">Compare with the champion</a> · '
            '<a id="compare-with" href="{}?a={}">Compare with…</a> '
            "(another run on snapshot {})",
            results,
            run.pk,
            compare,
            pick,
            run.pk,
            run.snapshot_id,
        )

    @admin.action(permissions=["cancel"], description="Cancel selected runs")
    def cancel_runs(
        self, request: HttpRequest, queryset: QuerySet[EvaluationRun]
    ) -> None:
        for run in queryset:
            try:
                services.cancel_run(
                    run=run, acting_user=authenticated_user(request), reason="admin"
                )
                self.message_user(request, f"Run {run.pk} cancelled.")
            except DomainError as exc:
                self.message_user(request, exc.message, messages.WARNING)

    @admin.action(permissions=["resume"], description="Re-enqueue pending chunks")
    def resume_runs(
        self, request: HttpRequest, queryset: QuerySet[EvaluationRun]
    ) -> None:
        for run in queryset:
            try:
                sent = services.resume_run(
                    run=run, acting_user=authenticated_user(request)
                )
                self.message_user(request, f"Run {run.pk}: {sent} chunk(s) re-sent.")
            except DomainError as exc:
                self.message_user(request, exc.message, messages.WARNING)

    def get_urls(self) -> list[Any]:
        compare = self.admin_site.admin_view(self.compare_view)
        return [
            path("<int:pk>/compare/", compare, name="evaluation_evaluationrun_compare"),
            *super().get_urls(),
        ]

    def compare_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(selectors.list_runs(), pk=pk)
        other_id = request.GET.get("with", "")
        champion: EvaluationRun | None
        if other_id.isdigit():
            champion = get_object_or_404(selectors.list_runs(), pk=int(other_id))
        else:
            champion = selectors.find_champion_run(
                template=run.prompt_version.template,
                snapshot=run.snapshot,
                mode=run.mode,
            )
            if champion is not None and champion.pk == run.pk:
                # This run is the champion's own: compare with what it replaced.
                champion = selectors.previous_champion_run(run=run)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Run {run.pk} compared",
            "run": run,
            "champion": champion,
            "opts": self.model._meta,
        }
        if champion is None:
            context["problem"] = (
                "No other champion run on this snapshot to compare with: "
                "pass ?with=<run id>."
            )
        else:
            try:
                comparison = compare_runs(champion=champion, challenger=run)
                context["comparison"] = comparison.as_dict()
                context["markdown"] = comparison_markdown(comparison)
            except DomainError as exc:
                context["problem"] = exc.message
        return TemplateResponse(request, "evaluation/admin/comparison.html", context)


@admin.register(EvaluationResult)
class EvaluationResultAdmin(admin.ModelAdmin):
    list_display = [
        "golden_example",
        "run",
        "execution_match",
        "exact_match",
        "executed",
        "scored",
        "error_kind",
        "latency_ms",
        "attempts",
    ]
    list_filter = ["execution_match", "scored", "error_kind"]
    list_select_related = ["golden_example__target_database", "run"]
    search_fields = ["golden_example__question", "predicted_sql", "error"]
    raw_id_fields = ["run", "golden_example"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RegressionAlert)
class RegressionAlertAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "run",
        "champion_run",
        "segment",
        "champion_value",
        "challenger_value",
        "drop_points",
        "email_sent_at",
        "webhook_delivered_at",
    ]
    list_filter = ["segment"]
    list_select_related = ["run", "champion_run"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
