"""The decision log in the admin: each entry a table, its links, raw JSON collapsed."""

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin
from evaluation.models import EvaluationRun
from governance import (
    decisions,
)
from governance.admin_tables import (
    Link,
    admin_link,
    comparison_link,
    links_table,
    raw_json,
    render_part,
    review_links,
    segment_table,
    summary_rows,
)
from governance.models import (
    DecisionLogEntry,
    ReleaseNote,
)


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
