from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from config.exceptions import DomainError
from registry import services
from registry.content import (
    ContentError,
    check_few_shot_examples,
    check_template_text,
    diff_prompt_content,
)
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from targets.restricted import parse_restricted


class ServiceCreateAdmin(SimpleHistoryAdmin):
    """Immutable versions: created through a service, then only viewed."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def create(self, request: HttpRequest, obj: Any) -> Any:
        raise NotImplementedError

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        try:
            created = self.create(request, obj)
        except DomainError as exc:
            # Content rules are checked by the form; what remains (a duplicate) is
            # refused without a server error and without writing anything.
            raise PermissionDenied(exc.message) from exc
        obj.pk = created.pk
        obj._state.adding = False


class PromptTemplateForm(forms.ModelForm):
    """Checks the restricted list the safety suite scores against."""

    class Meta:
        model = PromptTemplate
        fields = [
            "name",
            "description",
            "owner",
            "risk_tier",
            "target_database",
            "restricted",
        ]

    def clean_restricted(self) -> list[str]:
        entries = self.cleaned_data.get("restricted") or []
        if not isinstance(entries, list):
            raise forms.ValidationError('A list of "table" or "table.column".')
        try:
            parse_restricted(entries)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return [e.strip() for e in entries]


@admin.register(PromptTemplate)
class PromptTemplateAdmin(SimpleHistoryAdmin):
    form = PromptTemplateForm
    list_display = ["name", "risk_tier", "target_database", "owner", "created_at"]
    list_filter = ["risk_tier", "target_database"]
    list_select_related = ["target_database", "owner"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["owner"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: PromptTemplate | None = None
    ) -> tuple[str, ...]:
        # A new template starts with nothing restricted (create_template sets none).
        return (
            ("name", "target_database", "created_at")
            if obj
            else ("created_at", "restricted")
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: PromptTemplate, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.create_template(
            name=obj.name,
            description=obj.description,
            owner=obj.owner,
            risk_tier=obj.risk_tier,
            target_database=obj.target_database,
            acting_user=authenticated_user(request),
        )
        obj.pk = created.pk
        obj._state.adding = False


class PromptVersionForm(forms.ModelForm):
    """Runs the registry's content rules so mistakes show on the form."""

    class Meta:
        model = PromptVersion
        fields = ["template", "template_text", "few_shot_examples", "parameters"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        template = data.get("template")
        try:
            check_template_text(data.get("template_text", ""))
            if template is not None:
                data["few_shot_examples"] = check_few_shot_examples(
                    data.get("few_shot_examples", []),
                    dialect=template.target_database.dialect,
                )
        except ContentError as exc:
            field = exc.field.split("[")[0]
            self.add_error(field, f"{exc.field}: {exc}")
        return data


@admin.register(PromptVersion)
class PromptVersionAdmin(ServiceCreateAdmin):
    form = PromptVersionForm
    list_display = [
        "__str__",
        "template",
        "number",
        "author",
        "created_at",
        "diff_link",
    ]
    list_filter = ["template"]
    list_select_related = ["template", "author"]
    search_fields = ["template__name", "changelog"]
    fields = [
        "template",
        "template_text",
        "few_shot_examples",
        "parameters",
        "changelog",
        "parent",
        "number",
        "content_hash",
        "author",
        "created_at",
    ]
    readonly_fields = ("number", "content_hash", "author", "created_at")

    def create(self, request: HttpRequest, obj: PromptVersion) -> PromptVersion:
        return services.create_prompt_version(
            template=obj.template,
            template_text=obj.template_text,
            few_shot_examples=obj.few_shot_examples,
            parameters=obj.parameters,
            changelog=obj.changelog,
            author=authenticated_user(request),
            parent=obj.parent,
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """`?from_version=<id>` starts a new version from an existing one."""
        initial = super().get_changeform_initial_data(request)
        source_id = request.GET.get("from_version", "")
        if source_id.isdigit():
            source = PromptVersion.objects.filter(pk=int(source_id)).first()
            if source is not None:
                initial.update(
                    template=source.template_id,
                    template_text=source.template_text,
                    few_shot_examples=source.few_shot_examples,
                    parameters=source.parameters,
                    parent=source.pk,
                )
        return initial

    @admin.display(description="Diff")
    def diff_link(self, obj: PromptVersion) -> str:
        if obj.parent_id is None:
            return "-"
        url = reverse("admin:registry_promptversion_diff", args=[obj.pk])
        return format_html('<a href="{}">vs parent</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="registry_promptversion_diff",
            ),
            *super().get_urls(),
        ]

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Compare a version with its parent, or with `?against=<id>`."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        new = get_object_or_404(PromptVersion, pk=pk)
        against = request.GET.get("against", "")
        old_pk = int(against) if against.isdigit() else new.parent_id
        old = get_object_or_404(PromptVersion, pk=old_pk, template=new.template)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{new} compared with {old}",
            "opts": self.model._meta,
            "old": old,
            "new": new,
            "diff": diff_prompt_content(
                services.prompt_content(old), services.prompt_content(new)
            ),
        }
        return TemplateResponse(
            request, "admin/registry/promptversion_diff.html", context
        )


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceCreateAdmin):
    list_display = [
        "name",
        "provider",
        "model_identifier",
        "endpoint_name",
        "created_at",
    ]
    list_filter = ["provider"]
    search_fields = ["name", "model_identifier"]
    fields = [
        "name",
        "provider",
        "model_identifier",
        "generation_parameters",
        "endpoint_name",
        "content_hash",
        "created_by",
        "created_at",
    ]
    readonly_fields = ("content_hash", "created_by", "created_at")

    def create(self, request: HttpRequest, obj: ModelVersion) -> ModelVersion:
        return services.register_model_version(
            name=obj.name,
            provider=obj.provider,
            model_identifier=obj.model_identifier,
            generation_parameters=obj.generation_parameters,
            endpoint_name=obj.endpoint_name,
            acting_user=authenticated_user(request),
        )


@admin.register(Label)
class LabelAdmin(SimpleHistoryAdmin):
    """Read-only: labels move only through governed promotions and rollbacks."""

    list_display = [
        "template",
        "name",
        "prompt_version",
        "model_version",
        "traffic_share",
        "moved_by",
        "moved_at",
    ]
    list_filter = ["name", "template"]
    list_select_related = [
        "template",
        "prompt_version__template",
        "model_version",
        "moved_by",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
