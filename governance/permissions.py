from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class DeclaredPermission(BasePermission):
    """Grant access only through permissions a view declares.

    A view sets `required_permission` (reads) and `write_permission` (writes) to
    Django permission codenames such as "registry.view_prompttemplate". A view that
    declares nothing for the method is closed.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        attr = (
            "required_permission"
            if request.method in SAFE_METHODS
            else "write_permission"
        )
        codename: str | None = getattr(view, attr, None)
        if not codename:
            return False
        return bool(request.user and request.user.has_perm(codename))
