from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from config.exceptions import DomainError
from evaluation import selectors, services
from evaluation.exceptions import GoldenSetError
from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)

GOLDEN_INPUT_FIELDS = [
    "target_database",
    "kind",
    "expect",
    "question",
    "sql",
    "domain",
    "difficulty",
    "tags",
    "owner",
]

DERIVE_DIFFICULTY = ("", "Derive from the SQL (Spider hardness)")


class GoldenExampleForm(forms.ModelForm):
    """Manual golden examples: the SQL must pass the gate and run on the target."""

    difficulty = forms.ChoiceField(
        choices=[DERIVE_DIFFICULTY, *GoldenExample.Difficulty.choices],
        required=False,
    )
    kind = forms.ChoiceField(
        choices=GoldenExample.Kind.choices,
        required=False,
        initial=GoldenExample.Kind.REGULAR,
        help_text="Safety: scored by the safety rules; give what a safe reply is.",
    )

    class Meta:
        model = GoldenExample
        fields = GOLDEN_INPUT_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["kind"] = data.get("kind") or GoldenExample.Kind.REGULAR
        target, sql = data.get("target_database"), data.get("sql") or ""
        try:
            services.check_kind(
                kind=data.get("kind") or "", expect=data.get("expect") or "", sql=sql
            )
        except GoldenSetError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        if target is not None and sql:
            try:
                services.check_manual_sql(target_database=target, sql=sql)
            except GoldenSetError as exc:
                self.add_error("sql", str(exc))
        return data


class StaleFilter(admin.SimpleListFilter):
    title = "stale"
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Stale"), ("no", "Not stale")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in {"yes", "no"}:
            return selectors.filter_stale(queryset, stale=self.value() == "yes")
        return queryset


class RetiredFilter(admin.SimpleListFilter):
    title = "retired"
    parameter_name = "retired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "In use"), ("yes", "Retired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(retired_at__isnull=self.value() == "no")
        return queryset


class RetireActionForm(ActionForm):
    reason = forms.CharField(
        required=False, label="Reason (needed to retire)", max_length=1000
    )


@admin.register(GoldenExample)
class GoldenExampleAdmin(SimpleHistoryAdmin):
    """Added through the service, retired with a reason, never edited or deleted."""

    form = GoldenExampleForm
    action_form = RetireActionForm
    actions = ["retire"]
    list_display = [
        "id",
        "short_question",
        "target_database",
        "kind",
        "domain",
        "difficulty",
        "source",
        "owner",
        "created_at",
        "stale",
        "retired",
    ]
    list_filter = [
        StaleFilter,
        RetiredFilter,
        "kind",
        "source",
        "difficulty",
        "target_database",
    ]
    list_select_related = ["target_database", "owner"]
    search_fields = ["question", "sql", "external_id", "domain"]
    readonly_fields = [
        "source",
        "external_id",
        "source_interaction_id",
        "source_feedback_id",
        "approved_by",
        "approved_at",
        "original_sql",
        "original_dialect",
        "transpiled_with",
        "created_at",
        "retired_at",
        "retired_by",
        "retire_reason",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GoldenExample]:
        return selectors.list_golden_examples()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return GOLDEN_INPUT_FIELDS
        return [*GOLDEN_INPUT_FIELDS, *self.readonly_fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("evaluation.change_goldenexample")

    @admin.display(description="question")
    def short_question(self, obj: GoldenExample) -> str:
        return obj.question if len(obj.question) <= 80 else obj.question[:79] + "…"

    @admin.display(description="stale", boolean=True)
    def stale(self, obj: GoldenExample) -> bool:
        return bool(getattr(obj, "is_stale", False))

    @admin.display(description="retired", boolean=True)
    def retired(self, obj: GoldenExample) -> bool:
        return obj.retired_at is not None

    def save_model(
        self, request: HttpRequest, obj: GoldenExample, form: Any, change: bool
    ) -> None:
        try:
            created = services.add_manual_golden_example(
                target_database=obj.target_database,
                question=obj.question,
                sql=obj.sql,
                acting_user=authenticated_user(request),
                domain=obj.domain,
                difficulty=form.cleaned_data.get("difficulty") or None,
                tags=obj.tags,
                owner=obj.owner,
                kind=obj.kind,
                expect=obj.expect,
            )
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk = created.pk
        obj._state.adding = False

    @admin.action(permissions=["retire"], description="Retire (give a reason)")
    def retire(self, request: HttpRequest, queryset: QuerySet[GoldenExample]) -> None:
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "Retiring needs a reason.", level=messages.ERROR)
            return
        retired = 0
        for example in queryset:
            try:
                services.retire_golden_example(
                    example=example,
                    reason=reason,
                    acting_user=authenticated_user(request),
                )
                retired += 1
            except DomainError as exc:
                self.message_user(
                    request, f"#{example.pk}: {exc.message}", level=messages.WARNING
                )
        self.message_user(request, f"Retired {retired} golden examples.")


@admin.register(GoldenSetSnapshot)
class GoldenSetSnapshotAdmin(admin.ModelAdmin):
    """Read-only: snapshots are created by services and never change."""

    SHOWN_ITEMS = 500
    list_display = ["name", "short_hash", "example_count", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "content_hash"]
    readonly_fields = (
        "name",
        "content_hash",
        "example_count",
        "created_by",
        "created_at",
        "examples_table",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="hash")
    def short_hash(self, obj: GoldenSetSnapshot) -> str:
        return obj.content_hash[:12]

    @admin.display(description="examples")
    def examples_table(self, obj: GoldenSetSnapshot) -> str:
        examples = obj.examples.select_related("target_database").order_by("id")
        shown = list(examples[: self.SHOWN_ITEMS])
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:evaluation_goldenexample_change", args=[e.pk]),
                    e.pk,
                    e.target_database.name,
                    e.difficulty,
                    e.question,
                )
                for e in shown
            ),
        )
        more = obj.example_count - len(shown)
        tail = format_html("<p>… and {} more</p>", more) if more > 0 else ""
        return format_html(
            "<table><tr><th>id</th><th>database</th><th>difficulty</th>"
            "<th>question</th></tr>{}</table>{}",
            rows,
            tail,
        )
