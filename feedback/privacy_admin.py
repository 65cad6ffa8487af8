"""Admin of privacy requests: privacy officers file them; nobody edits them.

The add form takes the person's user id as the assistant sends it; only its
pseudonym is stored (the service computes it). Results and the audit trail are
read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from feedback import privacy
from feedback.exceptions import PrivacyError
from feedback.models import PrivacyRequest


class PrivacyRequestForm(forms.ModelForm):
    user_id = forms.CharField(
        max_length=200,
        strip=False,
        help_text="As the assistant sends it; only its keyed pseudonym is stored.",
    )
    withdrawn_at = forms.DateTimeField(
        required=False, help_text="When consent was withdrawn; empty: now."
    )

    class Meta:
        model = PrivacyRequest
        fields = ["kind", "reference"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            privacy.check_request(
                kind=data.get("kind", ""),
                user_id=data.get("user_id", ""),
                effective_at=data.get("withdrawn_at"),
            )
        except PrivacyError as exc:
            field = {"effective_at": "withdrawn_at"}.get(exc.field or "", exc.field)
            self.add_error(field, exc.message)
        return data


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(SimpleHistoryAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "subject_pseudonym",
        "effective_at",
        "requested_by",
        "created_at",
        "completed_at",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["requested_by"]
    search_fields = ["=subject_pseudonym", "reference"]
    date_hierarchy = "created_at"
    form = PrivacyRequestForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [f.name for f in PrivacyRequest._meta.fields]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["kind", "user_id", "withdrawn_at", "reference"]
        return [f.name for f in PrivacyRequest._meta.fields]

    def save_model(
        self, request: HttpRequest, obj: PrivacyRequest, form: Any, change: bool
    ) -> None:
        if change:
            raise PermissionDenied
        filed = privacy.file_privacy_request(
            kind=form.cleaned_data["kind"],
            user_id=form.cleaned_data["user_id"],
            effective_at=form.cleaned_data["withdrawn_at"],
            reference=form.cleaned_data.get("reference") or "",
            acting_user=authenticated_user(request),
        )
        obj.pk = filed.pk
        obj._state.adding = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
