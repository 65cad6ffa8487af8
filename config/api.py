"""Where errors become HTTP responses: JSON for every API error, 4xx naming the
field for bad input (parsing, rendering and pagination: config.drf)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.exceptions import DomainError

API_PREFIX = "/api/"


def exception_handler(
    exc: Exception, context: dict[str, Any]
) -> Response | JsonResponse | None:
    """Map domain and model validation errors to 400/409 bodies that name the field."""
    if isinstance(exc, DomainError):
        # A field's errors are a list (as DRF's); `detail` is one string (ApiError).
        message: str | list[str] = [exc.message] if exc.field else exc.message
        body: dict[str, object] = {
            exc.field or "detail": message,
            "code": exc.default_code,
        }
        # A domain error about many items may list them (e.g. a refused import).
        if getattr(exc, "errors", None):
            body["errors"] = exc.errors  # type: ignore[attr-defined]
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict
            if hasattr(exc, "error_dict")
            else {"detail": " ".join(exc.messages)}
        )
        exc = drf_exceptions.ValidationError(detail)
    if isinstance(exc, RequestDataTooBig):
        return too_large_response()
    return drf_exception_handler(exc, context)


# --- errors outside DRF views -------------------------------------------------


def too_large_response() -> JsonResponse:
    """413 for a body over MAX_REQUEST_BODY_BYTES."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse(
        {"detail": f"Request body larger than {limit} bytes.", "code": "too_large"},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def body_limit_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Answer 413 in JSON to an API request announcing an oversized body, before
    anything reads it (Django would raise mid-request and answer an HTML 400)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and length > limit:
                return too_large_response()
        return get_response(request)

    return middleware


def _api_error(
    fallback: Callable[..., HttpResponse], code: int, detail: str
) -> Callable[..., HttpResponse]:
    def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"detail": detail}, status=code)
        return fallback(request, *args, **kwargs)

    return handler


def error_handlers() -> dict[str, Callable[..., HttpResponse]]:
    """handler400/403/404/500 for config.urls: JSON under /api/, Django's pages
    elsewhere."""
    from django.views import defaults

    return {
        "handler400": _api_error(defaults.bad_request, 400, "Bad request."),
        "handler403": _api_error(defaults.permission_denied, 403, "Forbidden."),
        "handler404": _api_error(defaults.page_not_found, 404, "Not found."),
        "handler500": _api_error(defaults.server_error, 500, "Server error."),
    }


__all__ = [
    "body_limit_middleware",
    "error_handlers",
    "exception_handler",
]
