"""The single place where domain errors become HTTP responses."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.exceptions import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain and model validation errors to 400/409 bodies that name the field."""
    if isinstance(exc, DomainError):
        body = {exc.field or "detail": [exc.message], "code": exc.default_code}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
        exc = drf_exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
