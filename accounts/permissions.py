from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
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


def authenticated_user(request: HttpRequest | Request) -> User:
    """The signed-in user acting in a view or admin action (narrows `request.user`).

    Only for code behind `DeclaredPermission` or the admin's staff login, where the
    user is always authenticated (an anonymous user holds no permission): the check
    makes that guarantee visible to the type checker instead of casting it away.
    """
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
