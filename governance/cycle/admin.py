"""Admin pages of the retraining cycle: read-only records of what it did.

Imported by `governance.admin`. Cycles are started with `manage.py run_cycle`
or by the weekly schedule, never from a form.
"""

import re
from collections.abc import Container
from datetime import UTC, datetime
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from governance import numbers
from governance.admin_tables import (
    Link,
    admin_link,
    comparison_link,
    links_table,
    raw_json,
    render_part,
    review_links,
    segment_table,
)
from governance.cycle.models import (
    DatasetSnapshot,
    RetrainingCycle,
)
from governance.models import ReleaseNote

METRIC = "execution_accuracy"


RATE_SUFFIXES = ("accuracy", "rate", "share")
_HEX = re.compile(r"[0-9a-f]+")


def _shown(key: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{k} {_shown(str(k), v)}" for k, v in value.items())
        return f"({inner})" if inner else "-"
    if isinstance(value, list):
        return ", ".join(_shown(key, v) for v in value) or "-"
    if isinstance(value, float) and key.endswith(RATE_SUFFIXES):
        return numbers.percent(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if value is None:
        return "-"
    if isinstance(value, str) and len(value) >= 40 and _HEX.fullmatch(value):
        return f"{value[:12]}…"
    return _moment(value) if isinstance(value, str) else str(value)


def _counts(values: Any, deltas: Container[str] = ()) -> list[tuple[str, str]]:
    """A step's numbers as "key: value" lines: rates as percentages, and the
    keys in `deltas` (differences of rates) in points."""
    if not isinstance(values, dict):
        return [("value", _shown("value", values))]
    return [
        (
            str(key),
            numbers.points(value)
            if key in deltas and isinstance(value, float)
            else _shown(str(key), value).removeprefix("(").removesuffix(")"),
        )
        for key, value in values.items()
    ]


def _moment(value: Any) -> str:
    """An ISO timestamp to the second ("2026-12-02 00:19:09 UTC"); else as is."""
    if not isinstance(value, str) or "T" not in value:
        return "-" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def comparison_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """The cycle's champion-vs-challenger comparison (execution accuracy) as rows."""
    named = [("overall", comparison.get("overall"))]
    named += sorted((comparison.get("segments") or {}).items())
    rows = []
    for name, block in named:
        if not isinstance(block, dict) or METRIC not in block:
            continue
        rates, n = block[METRIC], block.get("n") or {}
        rows.append(
            {
                "segment": name,
                "champion": rates.get("champion"),
                "challenger": rates.get("challenger"),
                "delta": rates["challenger"] - rates["champion"],
                "n": n.get("challenger"),
                "champion_n": n.get("champion"),
            }
        )
    return rows


def manifest_summary(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts") or {}
    groups = [
        (key.removeprefix("by_").replace("_", " "), sorted(values.items()))
        for key, values in counts.items()
        if key.startswith("by_") and isinstance(values, dict)
    ]
    window = manifest.get("window") or {}
    return render_part(
        "manifest",
        {
            "rows": counts.get("rows", "-"),
            "groups": groups,
            "window_start": _moment(window["start"]) if window.get("start") else "",
            "window_end": _moment(window.get("end")),
        },
    )


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "template", "short_hash", "rows_count", "window_end"]
    list_filter = ["template"]
    list_select_related = ["template"]
    readonly_fields = (
        "template",
        "content_hash",
        "window_start",
        "window_end",
        "code_version",
        "previous",
        "created_by",
        "created_at",
        "manifest_json",
    )
    fields = readonly_fields

    @admin.display(description="hash")
    def short_hash(self, obj: DatasetSnapshot) -> str:
        return obj.content_hash[:12]

    @admin.display(description="rows")
    def rows_count(self, obj: DatasetSnapshot) -> int:
        return len(obj.rows)

    @admin.display(description="manifest")
    def manifest_json(self, obj: DatasetSnapshot) -> str:
        return format_html(
            "{}{}", manifest_summary(obj.manifest), raw_json(obj.manifest)
        )


@admin.register(RetrainingCycle)
class RetrainingCycleAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = [
        "id",
        "template",
        "status",
        "trigger",
        "decision_link",
        "promotion_request",
        "started_at",
    ]
    list_filter = ["status", "trigger", "template"]
    list_select_related = ["template", "decision", "promotion_request"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "template",
                    "status",
                    "trigger",
                    "requested_by",
                    "started_at",
                    "finished_at",
                    "error",
                ]
            },
        ),
        ("Decision taken", {"fields": ["decision_summary", "related_links"]}),
        ("Steps", {"fields": ["steps_table"]}),
        ("Dataset", {"fields": ["manifest_table"]}),
        ("Evaluation by segment", {"fields": ["segments_table"]}),
        (
            "Raw records",
            {
                "fields": [
                    "validation_json",
                    "comparison_json",
                    "online_json",
                    "export_json",
                    "options_json",
                    "steps_json",
                ]
            },
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RetrainingCycle]:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "template",
                "decision",
                "decision__decided_by",
                "promotion_request",
                "dataset",
                "champion_prompt",
                "challenger_prompt",
                "champion_model",
                "challenger_model",
            )
        )

    @admin.display(description="decision")
    def decision_link(self, obj: RetrainingCycle) -> str:
        if obj.decision is None:
            return "-"
        url = reverse(
            "admin:governance_decisionlogentry_change", args=[obj.decision.pk]
        )
        return format_html(
            '<a href="{}">#{} {}</a>', url, obj.decision.sequence, obj.decision.decision
        )

    @admin.display(description="decision")
    def decision_summary(self, obj: RetrainingCycle) -> str:
        entry = obj.decision
        facts = [
            ("decision", f"#{entry.sequence} {entry.decision}" if entry else None),
            ("decided by", (entry.decided_by or "the system") if entry else None),
            ("rationale", entry.rationale if entry else None),
            ("production", f"{obj.champion_prompt} with {obj.champion_model}"),
            ("challenger", f"{obj.challenger_prompt} with {obj.challenger_model}"),
        ]
        return render_part("facts", {"facts": facts})

    @admin.display(description="links")
    def related_links(self, obj: RetrainingCycle) -> str:
        entry, request = obj.decision, obj.promotion_request
        outcomes = list(entry.outcomes.all()) if entry else []
        notes = ReleaseNote.objects.filter(request=request) if request else []
        diff: list[Link] = []
        comparison = comparison_link(obj.champion_run_id, obj.challenger_run_id)
        if request is not None:
            links = review_links(request)
            diff = [{"text": f"request #{request.pk}", "url": links["prompt_diff"]}]
        elif obj.challenger_prompt_id:
            url = reverse(
                "registry:prompt-version-diff", args=[obj.challenger_prompt_id]
            )
            if obj.champion_prompt_id:
                url += f"?against={obj.champion_prompt_id}"
            diff = [{"text": str(obj.challenger_prompt), "url": url}]
        groups: list[tuple[str, list[Link]]] = [
            (
                "decision",
                [admin_link("decisionlogentry", entry.pk, f"#{entry.sequence}")]
                if entry
                else [],
            ),
            (
                "promotion request",
                [
                    {
                        "text": f"#{request.pk} {request.status}",
                        "url": reverse(
                            "admin:governance_promotionrequest_review",
                            args=[request.pk],
                        ),
                    }
                ]
                if request
                else [],
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
            (
                "dataset snapshot",
                [admin_link("datasetsnapshot", obj.dataset_id, f"#{obj.dataset_id}")]
                if obj.dataset_id
                else [],
            ),
            ("prompt diff", diff),
            ("comparison", comparison),
        ]
        return links_table(groups)

    @admin.display(description="steps")
    def steps_table(self, obj: RetrainingCycle) -> str:
        # The shadow step spreads the online comparison's deltas into its numbers.
        online_deltas = (obj.online_comparison or {}).get("delta") or {}
        steps = [
            {
                "name": s.get("name"),
                "status": s.get("status"),
                "started_at": _moment(s.get("started_at")),
                "finished_at": _moment(s.get("finished_at")),
                "duration": _duration(s.get("duration_ms")),
                "counts": _counts(
                    s.get("numbers") or {},
                    online_deltas if s.get("name") == "shadow" else (),
                ),
                "detail": s.get("detail"),
            }
            for s in obj.steps
        ]
        return render_part("steps", {"steps": steps})

    @admin.display(description="manifest")
    def manifest_table(self, obj: RetrainingCycle) -> str:
        if obj.dataset is None:
            return "-"
        return manifest_summary(obj.dataset.manifest)

    @admin.display(description="execution accuracy")
    def segments_table(self, obj: RetrainingCycle) -> str:
        comparison = obj.comparison or {}
        note = ""
        if comparison:
            p_value = (comparison.get("mcnemar") or {}).get("p_value")
            shown = "-" if p_value is None else f"{p_value:.3g}"
            note = (
                f"McNemar exact p = {shown}; "
                f"{comparison.get('fixed_count', 0)} fixed, "
                f"{comparison.get('broken_count', 0)} broken."
            )
        return segment_table(comparison_rows(comparison), note)

    @admin.display(description="validation")
    def validation_json(self, obj: RetrainingCycle) -> str:
        return raw_json(obj.validation)

    @admin.display(description="comparison")
    def comparison_json(self, obj: RetrainingCycle) -> str:
        return raw_json(obj.comparison)

    @admin.display(description="online comparison (shadow)")
    def online_json(self, obj: RetrainingCycle) -> str:
        return raw_json(obj.online_comparison)

    @admin.display(description="fine-tuning export")
    def export_json(self, obj: RetrainingCycle) -> str:
        return raw_json(obj.training_export)

    @admin.display(description="options")
    def options_json(self, obj: RetrainingCycle) -> str:
        return raw_json(obj.options)

    @admin.display(description="steps")
    def steps_json(self, obj: RetrainingCycle) -> str:
        return raw_json(obj.steps)
