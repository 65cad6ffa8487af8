from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from config.exceptions import DomainError
from governance import services
from governance.models import ApiToken, AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: everyone may read, nobody may change."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "user"]


@admin.register(ApiToken)
class ApiTokenAdmin(SimpleHistoryAdmin):
    form = ApiTokenForm
    list_display = ["name", "user", "prefix", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "prefix"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "created_by", "created_at", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None:
            return ["name", "user", *self.readonly_fields]
        return list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: Any, change: bool
    ) -> None:
        if change:
            return
        token, key = services.issue_api_token(
            user=obj.user, name=obj.name, acting_user=request.user
        )
        obj.pk = token.pk
        obj._state.adding = False
        self.message_user(
            request,
            f"API key for {token.name} (shown once, copy it now): {key}",
            messages.WARNING,
        )

    @admin.action(permissions=["change"], description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            try:
                services.revoke_api_token(
                    token=token, acting_user=request.user, reason="Revoked in admin"
                )
            except DomainError as exc:
                self.message_user(request, f"{token}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{token} revoked.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event_type", "actor", "subject_type", "subject_id"]
    list_filter = ["event_type", "subject_type"]
    list_select_related = ["actor"]
    search_fields = ["event_type", "subject_id", "reason"]
    date_hierarchy = "created_at"
