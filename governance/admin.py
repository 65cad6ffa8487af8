"""Admin of governance records: policies, triggers, the decision log, approvals,
release notes, breakers, and the reviewers' queue of promotion requests.

The reviewers' queue: pending promotion requests with their comparison inline.

Approve, reject and override call the services, which enforce four-eyes, roles
and the content hash the reviewer saw; refusals are shown, never a server error.
"""

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from audit.admin import ReadOnlyAdmin
from config.exceptions import DomainError
from evaluation.models import EvaluationRun
from governance import (
    amendments,
    approvals,
    decisions,
    gates,
    model_cards,
    risk,
    safety_gate,
)
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


Link = dict[str, str]


def render_part(name: str, context: Mapping[str, Any]) -> str:
    """One of the small admin tables in `admin/governance/_<name>.html` (escaped)."""
    return render_to_string(f"admin/governance/_{name}.html", dict(context))


def raw_json(value: Any) -> str:
    """The stored JSON, collapsed: the tables above it are what a reader reads."""
    text = json.dumps(value, indent=2, default=str, sort_keys=True)
    return render_part("raw_json", {"text": text, "size": len(text)})


def links_table(groups: Iterable[tuple[str, list[Link]]]) -> str:
    return render_part(
        "links", {"groups": [{"label": g, "links": links} for g, links in groups]}
    )


def segment_table(rows: list[dict[str, Any]], note: str = "") -> str:
    return render_part("segments", {"rows": rows, "note": note})


def admin_link(model: str, pk: Any, text: str) -> Link:
    return {"text": text, "url": reverse(f"admin:governance_{model}_change", args=[pk])}


def comparison_link(champion: Any, challenger: Any) -> list[Link]:
    if not champion or not challenger:
        return []
    url = reverse("evaluation_runs:comparison")
    query = f"?champion={champion}&challenger={challenger}"
    return [
        {"text": f"run {champion} vs run {challenger} (JSON)", "url": url + query},
        {"text": "Markdown", "url": f"{url}{query}&format=md"},
    ]


def _row(name: Any, block: Mapping[str, Any]) -> dict[str, Any]:
    champion = block.get("champion")
    challenger = block.get("challenger", block.get("candidate"))
    delta = None
    if isinstance(champion, int | float) and isinstance(challenger, int | float):
        delta = challenger - champion
    n = block.get("n")
    return {
        "segment": name,
        "champion": champion,
        "challenger": challenger,
        "delta": delta,
        "n": n,
        "champion_n": block.get("champion_n", n),
    }


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An entry's evaluation summary (execution accuracy) as table rows.

    A decision stores `overall` and `segments` by name; an outcome stores the
    review page's rows (`segment`, `champion`, `candidate`, `n`) as a list.
    """
    segments = summary.get("segments") or {}
    if isinstance(segments, list):
        return [
            _row(block.get("segment"), block)
            for block in segments
            if isinstance(block, Mapping)
        ]
    named = [("overall", summary.get("overall"))]
    named += sorted(segments.items())
    return [
        _row(name, block)
        for name, block in named
        if isinstance(block, Mapping) and "champion" in block
    ]


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
        "model_card",
    ]
    list_filter = ["kind", "decision", "outcome", "template"]
    search_fields = ["rationale", "approver_names"]
    date_hierarchy = "decided_at"
    fieldsets = [
        (None, {"fields": ["summary_table", "related_links"]}),
        ("Evaluation summary by segment", {"fields": ["segments_table"]}),
        (
            "Raw records",
            {"fields": ["summary_json", "approvers_json"]},
        ),
    ]
    readonly_fields = [
        "summary_table",
        "related_links",
        "segments_table",
        "summary_json",
        "approvers_json",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DecisionLogEntry]:
        return decisions.list_decision_log()

    @admin.display(description="Deployed")
    def deployment(self, obj: DecisionLogEntry) -> Any:
        return obj.deployed_at or getattr(obj, "deployment_at", None) or "-"

    @admin.display(description="Hash")
    def short_hash(self, obj: DecisionLogEntry) -> str:
        return f"{obj.entry_hash[:12]}…"

    @admin.display(description="Model card")
    def model_card(self, obj: DecisionLogEntry) -> str:
        ref = (obj.evaluation_summary or {}).get("model_card")
        if not ref:
            return "-"
        url = reverse("admin:governance_modelcard_change", args=[ref["id"]])
        return format_html(
            '<a href="{}">v{} of #{}</a>', url, ref["version"], ref["request"]
        )

    @admin.display(description="Entry")
    def summary_table(self, obj: DecisionLogEntry) -> str:
        approvers = ", ".join(
            f"{a.get('username')} ({a.get('role')})" for a in obj.approvers
        )
        facts = [
            ("sequence", f"#{obj.sequence}"),
            ("kind", obj.kind),
            ("decision" if obj.decision else "outcome", obj.decision or obj.outcome),
            ("template", obj.template),
            ("decided at", obj.decided_at),
            ("decided by", obj.decided_by or "the system"),
            ("rationale", obj.rationale),
            ("data snapshot", obj.data_snapshot_ref or None),
            ("data snapshot hash", obj.data_snapshot_hash[:12] or None),
            ("prompt version", obj.prompt_version),
            ("model version", obj.model_version),
            ("approvers", approvers or None),
            ("deployed at", self.deployment(obj)),
            ("entry hash", f"{obj.entry_hash[:12]}…"),
            ("previous hash", f"{obj.previous_hash[:12]}…"),
        ]
        return render_part("facts", {"facts": facts})

    @admin.display(description="Links")
    def related_links(self, obj: DecisionLogEntry) -> str:
        root = obj.amends or obj
        summary = root.evaluation_summary or {}
        outcomes = list(root.outcomes.all())
        requests = list(root.promotion_requests.all())
        notes = ReleaseNote.objects.filter(
            Q(decision__in=[root, *outcomes]) | Q(request__in=requests)
        )
        diffs, comparisons = [], []
        for req in requests:
            links = review_links(req)
            diffs.append({"text": f"request #{req.pk}", "url": links["prompt_diff"]})
            if "comparison" in links:
                comparisons.append(
                    {"text": f"request #{req.pk}", "url": links["comparison"]}
                )
        if not comparisons:
            comparisons = comparison_link(
                summary.get("champion_run"), summary.get("challenger_run")
            )
        dataset = summary.get("dataset") or {}
        groups: list[tuple[str, list[Link]]] = [
            (
                "decision",
                [admin_link("decisionlogentry", root.pk, f"#{root.sequence}")]
                if root.pk != obj.pk
                else [],
            ),
            (
                "JSON (API)",
                [
                    {
                        "text": f"entry #{obj.sequence}",
                        "url": reverse(
                            "governance:decision-detail", args=[obj.sequence]
                        ),
                    }
                ],
            ),
            (
                "trigger",
                [admin_link("triggerevent", root.trigger_id, str(root.trigger))]
                if root.trigger_id
                else [],
            ),
            (
                "retraining cycle",
                [
                    admin_link(
                        "retrainingcycle",
                        summary["cycle"],
                        f"cycle #{summary['cycle']}",
                    )
                ]
                if summary.get("cycle")
                else [],
            ),
            (
                "dataset snapshot",
                [
                    admin_link(
                        "datasetsnapshot", dataset["id"], f"dataset #{dataset['id']}"
                    )
                ]
                if dataset.get("id")
                else [],
            ),
            (
                "promotion request",
                [
                    {
                        "text": f"#{r.pk} {r.status}",
                        "url": reverse(
                            "admin:governance_promotionrequest_review", args=[r.pk]
                        ),
                    }
                    for r in requests
                ],
            ),
            (
                "outcomes",
                [
                    admin_link("decisionlogentry", o.pk, f"#{o.sequence} {o.outcome}")
                    for o in outcomes
                ],
            ),
            (
                "release notes",
                [
                    admin_link("releasenote", n.pk, f"request #{n.request_id}")
                    for n in notes
                ],
            ),
            ("prompt diff", diffs),
            ("comparison", comparisons),
        ]
        return links_table(groups)

    @admin.display(description="Execution accuracy")
    def segments_table(self, obj: DecisionLogEntry) -> str:
        summary = obj.evaluation_summary or {}
        rows = summary_rows(summary)
        # The summary stores no overall n; the challenger run's summary has it.
        run = summary.get("challenger_run")
        first = rows[0] if rows else {}
        if first.get("segment") == "overall" and first["n"] is None and run:
            stored = (
                EvaluationRun.objects.filter(pk=run)
                .values_list("summary", flat=True)
                .first()
            )
            first["n"] = first["champion_n"] = (
                (stored or {}).get("overall") or {}
            ).get("n")
        return segment_table(
            rows,
            "Rates with Wilson 95% intervals over the challenger's n; "
            "delta is challenger minus production.",
        )

    @admin.display(description="Evaluation summary")
    def summary_json(self, obj: DecisionLogEntry) -> str:
        return raw_json(obj.evaluation_summary)

    @admin.display(description="Approvers")
    def approvers_json(self, obj: DecisionLogEntry) -> str:
        return raw_json(obj.approvers)


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


def review_links(obj: PromotionRequest) -> dict[str, str]:
    """Where the review page points: the decision, the prompt diff against the
    pair in production (its parent without a champion run) and the comparison."""
    diff = reverse("registry:prompt-version-diff", args=[obj.prompt_version_id])
    champion = obj.champion_run
    if champion is not None and champion.prompt_version_id != obj.prompt_version_id:
        diff += f"?against={champion.prompt_version_id}"
    links = {
        "decision": reverse("governance:decision-detail", args=[obj.decision.sequence]),
        "prompt_diff": diff,
    }
    if champion is not None and obj.candidate_run_id is not None:
        links["comparison"] = (
            reverse("evaluation_runs:comparison")
            + f"?champion={champion.pk}&challenger={obj.candidate_run_id}"
        )
    return links


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
