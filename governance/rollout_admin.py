"""Rollouts in the admin: where each stands, its gates, its stages, sign-off.

Policies are edited here per template; rollouts, their stage records and
alerts are read-only, except the tier-3 sign-off, which calls the service.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from audit.admin import ReadOnlyAdmin
from config.exceptions import DomainError
from governance import rollout_abort, rollout_steps
from governance.models import Rollout, RolloutAlert, RolloutPolicy, RolloutStage
from registry.models import ModelVersion, PromptVersion


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def gate_rows(evidence: dict[str, Any]) -> str:
    """The gates of a check as an HTML table (empty before the first check)."""
    gates = evidence.get("gates", [])
    if not gates:
        return "not checked yet"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                gate["name"],
                _fmt(gate["candidate"]),
                _fmt(gate["baseline"]),
                _fmt(gate.get("candidate_interval") or gate.get("difference_interval"))
                + " ("
                + str(gate["interval"])
                + ")",
                _fmt(gate.get("baseline_interval")),
                f"{gate['n']['candidate']} / {gate['n']['baseline']}",
                gate["test"],
                f"{_fmt(gate['p_value'])} (alpha {_fmt(gate['alpha'])})",
                "pass" if gate["passed"] else "FAIL",
            )
            for gate in gates
        ),
    )
    return format_html(
        '<table class="rollout-gates"><tr><th>gate</th><th>candidate</th>'
        "<th>production</th><th>candidate interval (or difference)</th>"
        "<th>production interval</th><th>n</th><th>test</th><th>p-value</th>"
        "<th>verdict</th></tr>{}</table>",
        rows,
    )


def pair_html(prompt: PromptVersion, model: ModelVersion) -> str:
    """'prompt <template> v<N> · model <name>', each part linking to its admin page."""
    return format_html(
        'prompt <a href="{}">{} v{}</a> · model <a href="{}">{}</a>',
        reverse("admin:registry_promptversion_change", args=[prompt.pk]),
        prompt.template.name,
        prompt.number,
        reverse("admin:registry_modelversion_change", args=[model.pk]),
        model.name,
    )


def stage_table(policy: dict[str, Any], current: int | None) -> str:
    """The policy's stages, then its thresholds, as a table (the current stage
    marked), instead of the JSON the rollout stores."""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                index + 1,
                stage["name"],
                f"{float(stage['share']):.0%}",
                "current" if index == current else "",
            )
            for index, stage in enumerate(policy.get("stages", []))
        ),
    )
    return format_html(
        '<table class="rollout-policy"><tr><th>#</th><th>stage</th>'
        "<th>share of sessions</th><th></th></tr>{}</table>"
        "<p>At least {} sessions per pair and stage; alpha {}; latency p95 may "
        "exceed production's by {}; a stage older than {} h is rolled back; "
        "tier-3 sign-off before the last stage: {}.</p>",
        rows,
        policy.get("min_sessions"),
        policy.get("alpha"),
        f"{float(policy.get('latency_tolerance', 0)):.0%}",
        policy.get("max_stage_hours"),
        "yes" if policy.get("tier3_signoff_for_broad") else "no",
    )


@admin.register(RolloutPolicy)
class RolloutPolicyAdmin(SimpleHistoryAdmin):
    list_display = [
        "template",
        "mode",
        "stages",
        "min_sessions",
        "alpha",
        "latency_tolerance",
        "max_stage_hours",
        "tier3_signoff_for_broad",
    ]
    list_select_related = ["template"]
    autocomplete_fields = ["template"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def stage_evidence(evidence: dict[str, Any]) -> str:
    """A stage record's evidence as a reader wants it: the gates' table after a
    check, the other facts (who aborted, why) as text in key order (PostgreSQL's
    jsonb keeps its own), "-" when there are none."""
    if evidence.get("gates"):
        return gate_rows(evidence)
    facts = [
        (key, _fmt(value))
        for key, value in sorted(evidence.items())
        if value not in ("", [], None)
    ]
    if not facts:
        return "-"
    return format_html_join("; ", "{}: {}", facts)


class StageInline(admin.TabularInline):
    model = RolloutStage
    fields = ("created_at", "stage", "share_of_sessions", "verdict", "actor", "facts")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="share")
    def share_of_sessions(self, obj: RolloutStage) -> str:
        return f"{float(obj.share):.0%}"

    @admin.display(description="evidence")
    def facts(self, obj: RolloutStage) -> str:
        return stage_evidence(obj.evidence or {})

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Rollout)
class RolloutAdmin(SimpleHistoryAdmin):
    list_display = [
        "id",
        "template",
        "request_link",
        "stage_name",
        "share",
        "status",
        "sessions",
        "last_checked_at",
        "started_at",
    ]
    list_filter = ["status", "template"]
    list_select_related = ["template", "request"]
    search_fields = ["template__name"]
    inlines = [StageInline]
    change_form_template = "admin/governance/rollout_change_form.html"
    fields = [
        "template",
        "request_link",
        "candidate",
        "production_pair",
        "status",
        "stage_name",
        "share",
        "sessions",
        "stage_started_at",
        "last_checked_at",
        "gates",
        "signed_off_by",
        "signed_off_at",
        "signoff_link",
        "policy_table",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_signoff_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("governance.signoff_rollout")

    @admin.display(description="Request")
    def request_link(self, obj: Rollout) -> str:
        url = reverse("admin:governance_promotionrequest_review", args=[obj.request_id])
        return format_html('<a href="{}">#{}</a>', url, obj.request_id)

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "prompt_version__template",
                "model_version",
                "baseline_prompt_version__template",
                "baseline_model_version",
            )
        )

    def has_abort_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("governance.approve_promotionrequest")

    @admin.display(description="Candidate")
    def candidate(self, obj: Rollout) -> str:
        return pair_html(obj.prompt_version, obj.model_version)

    @admin.display(description="Production when it started")
    def production_pair(self, obj: Rollout) -> str:
        return pair_html(obj.baseline_prompt_version, obj.baseline_model_version)

    @admin.display(description="Policy")
    def policy_table(self, obj: Rollout) -> str:
        return stage_table(obj.policy, obj.stage_index if obj.is_open else None)

    @admin.display(description="Stage")
    def stage_name(self, obj: Rollout) -> str:
        return (
            f"{obj.stage['name']} ({obj.stage_index + 1}/{len(obj.policy['stages'])})"
        )

    @admin.display(description="Share")
    def share(self, obj: Rollout) -> str:
        return f"{float(str(obj.stage['share'])):.0%}" if obj.is_open else "0%"

    @admin.display(description="Sessions (candidate / production / needed)")
    def sessions(self, obj: Rollout) -> str:
        found = obj.last_evidence.get("sessions")
        if not found:
            return "not checked yet"
        return f"{found['candidate']} / {found['baseline']} / {found['needed']}"

    @admin.display(description="Online gates (last check)")
    def gates(self, obj: Rollout) -> str:
        return gate_rows(obj.last_evidence)

    @admin.display(description="Sign-off")
    def signoff_link(self, obj: Rollout) -> str:
        if obj.status != Rollout.Status.AWAITING_SIGNOFF:
            return "-"
        url = reverse("admin:governance_rollout_signoff", args=[obj.pk])
        return format_html('<a id="signoff-link" href="{}">sign off</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/signoff/",
                self.admin_site.admin_view(self.signoff_view),
                name="governance_rollout_signoff",
            ),
            path(
                "<int:pk>/abort/",
                self.admin_site.admin_view(self.abort_view),
                name="governance_rollout_abort",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        context["show_abort"] = self.has_abort_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def abort_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A reason and a button; the service checks the tier's roles and state."""
        if not self.has_abort_permission(request):
            raise PermissionDenied
        obj = get_object_or_404(Rollout.objects.select_related("template"), pk=pk)
        change = reverse("admin:governance_rollout_change", args=[obj.pk])
        if request.method == "POST":
            try:
                rollout_abort.abort_rollout(
                    rollout=obj,
                    acting_user=authenticated_user(request),
                    reason=request.POST.get("reason", ""),
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.message_user(
                request, f"Aborted rollout #{obj.pk}: traffic is back on production."
            )
            return HttpResponseRedirect(change)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Abort rollout #{obj.pk} of {obj.template.name}",
            "opts": self.model._meta,
            "obj": obj,
            "change_url": change,
            "max_reason": rollout_abort.MAX_REASON,
        }
        return TemplateResponse(request, "admin/governance/rollout_abort.html", context)

    def signoff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A comment and a button; the service enforces roles and four-eyes."""
        if not self.has_signoff_permission(request):
            raise PermissionDenied
        obj = get_object_or_404(Rollout.objects.select_related("template"), pk=pk)
        if request.method == "POST":
            try:
                rollout_steps.sign_off(
                    rollout=obj,
                    acting_user=authenticated_user(request),
                    comment=request.POST.get("comment", ""),
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.message_user(request, f"Signed off: {obj} enters its last stage.")
            return HttpResponseRedirect(
                reverse("admin:governance_rollout_change", args=[obj.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Sign off {obj}",
            "opts": self.model._meta,
            "obj": obj,
            "gates": gate_rows(obj.last_evidence),
        }
        return TemplateResponse(
            request, "admin/governance/rollout_signoff.html", context
        )


@admin.register(RolloutStage)
class RolloutStageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "rollout", "stage", "share", "verdict", "actor"]
    list_filter = ["verdict"]
    list_select_related = ["rollout__template", "actor"]


@admin.register(RolloutAlert)
class RolloutAlertAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "rollout",
        "email_sent_at",
        "webhook_delivered_at",
        "delivery_attempts",
        "last_delivery_error",
    ]
    list_select_related = ["rollout__template"]
