from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from accounts import services
from accounts.models import ApiToken
from accounts.permissions import authenticated_user
from config.exceptions import DomainError


class ApiTokenForm(forms.ModelForm):
    """Mint a key: your own, or a service account's (administrators)."""

    acting_user: Any = None

    class Meta:
        model = ApiToken
        fields = ["name", "user"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user = data.get("user")
        if user is not None and self.instance.pk is None:
            problem = services.minting_problem(user=user, acting_user=self.acting_user)
            if problem is not None:
                self.add_error("user", problem)
        return data


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

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.acting_user = authenticated_user(request)
        return form

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
            user=obj.user, name=obj.name, acting_user=authenticated_user(request)
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
                    token=token,
                    acting_user=authenticated_user(request),
                    reason="Revoked in admin",
                )
            except DomainError as exc:
                self.message_user(request, f"{token}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{token} revoked.", messages.SUCCESS)
