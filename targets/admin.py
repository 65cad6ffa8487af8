from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from accounts.permissions import authenticated_user
from config.exceptions import DomainError
from targets import services
from targets.models import TargetDatabase
from targets.schema import SchemaCaptureError, capture_schema, remote_location_problem


class TargetDatabaseForm(forms.ModelForm):
    """Shows location and schema-capture problems on the form, before any write."""

    class Meta:
        model = TargetDatabase
        fields = ["name", "engine", "location", "description"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        engine, location = data.get("engine"), data.get("location")
        if self.instance.pk is None and engine and location:
            problem = remote_location_problem(engine=engine, location=location)
            if problem is None:
                try:
                    capture_schema(engine=engine, location=location)
                except SchemaCaptureError as exc:
                    problem = str(exc)
            if problem is not None:
                self.add_error("location", problem)
        return data


@admin.register(TargetDatabase)
class TargetDatabaseAdmin(SimpleHistoryAdmin):
    """Registered through the service; where a target points never changes."""

    form = TargetDatabaseForm
    list_display = ["name", "engine", "location", "created_at"]
    list_filter = ["engine"]
    search_fields = ["name", "description"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: TargetDatabase | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("name", "engine", "location", "schema", "created_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: TargetDatabase, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            created = services.register_target_database(
                name=obj.name,
                engine=obj.engine,
                location=obj.location,
                description=obj.description,
                acting_user=authenticated_user(request),
                restrict_location=True,
            )
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk = created.pk
        obj._state.adding = False
