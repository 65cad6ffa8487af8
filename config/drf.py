"""DRF's input and output edges, bounded: JSON parsing, rendering, pagination.

Kept apart from config.api because DRF loads these classes from its settings
while rest_framework.views is being imported: nothing here may import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions as drf_exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from config.json_input import JSONTooDeep, loads_bounded

MAX_PAGE_SIZE = 500
MAX_OFFSET = 1_000_000_000
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
BAD_TEXT = "Must not contain NUL characters or lone surrogates."
BAD_INT = f"Must be a whole number from {INT64_MIN} to {INT64_MAX}."


# --- parsing ------------------------------------------------------------------


def _parse_json(stream: Any, parser_context: Mapping[str, Any] | None) -> Any:
    encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
    try:
        text = stream.read().decode(encoding)
        return loads_bounded(text, parse_constant=_refuse_constant)
    except JSONTooDeep as exc:
        raise drf_exceptions.ParseError(f"JSON parse error - {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise drf_exceptions.ParseError(f"JSON parse error - {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unstorable_path(value: Any) -> tuple[str, str] | None:
    """The dotted path of the first value no column can store, and why: a string
    (value or key) holding NUL or a lone surrogate, or an integer outside 64 bits.
    None when there is none."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _BAD_TEXT.search(node):
                return path or "non_field_errors", BAD_TEXT
        elif isinstance(node, int) and not isinstance(node, bool):
            if not INT64_MIN <= node <= INT64_MAX:
                return path or "non_field_errors", BAD_INT
        elif isinstance(node, dict):
            for key, child in node.items():
                name = f"{path}.{key}" if path else str(key)
                if _BAD_TEXT.search(key):
                    return name.encode(errors="backslashreplace").decode(), BAD_TEXT
                stack.append((child, name))
        elif isinstance(node, list):
            stack.extend(
                (child, f"{path}.{i}" if path else str(i))
                for i, child in enumerate(node)
            )
    return None


class BoundedJSONParser(JSONParser):
    """JSON with a nesting bound; NaN and Infinity refused. Text is left to the
    endpoint (batch ingestion reports bad text per item)."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return _parse_json(stream, parser_context)


class StrictJSONParser(BoundedJSONParser):
    """BoundedJSONParser that also refuses, naming the field, what no table or
    JSON column can store: NUL and lone surrogates in any string, integers past
    64 bits (ids included)."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        data = _parse_json(stream, parser_context)
        found = _unstorable_path(data)
        if found is not None:
            path, problem = found
            raise drf_exceptions.ValidationError({path: [problem]})
        return data


class SafeJSONRenderer(JSONRenderer):
    """JSONRenderer that escapes what UTF-8 cannot encode instead of failing.

    Error messages may quote input back; a lone surrogate in it would otherwise
    turn a 400 into a 500 while rendering.
    """

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _AsciiJSONRenderer().render(
                data, accepted_media_type, renderer_context
            )


class _AsciiJSONRenderer(JSONRenderer):
    ensure_ascii = True


# --- pagination ---------------------------------------------------------------


def _bounded_int(request: Request, name: str, *, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise drf_exceptions.ValidationError(
            {name: [f"Must be a whole number from {low} to {high}."]}
        )
    return int(raw)


class BoundedPagination(LimitOffsetPagination):
    """Limit/offset pages with bounds: a limit past 500 or an absurd offset is a
    400 naming the parameter, not a database overflow."""

    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request: Request) -> int | None:
        limit = _bounded_int(request, self.limit_query_param, low=1, high=MAX_PAGE_SIZE)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        offset = _bounded_int(request, self.offset_query_param, low=0, high=MAX_OFFSET)
        return offset or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": MAX_PAGE_SIZE},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
