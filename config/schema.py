"""OpenAPI post-processing: every operation documents the errors it can answer.

Any API operation can answer 400 (bad input, including bad pagination or
headers), 401 (no or a bad key), 403 (no permission), 404, 409 (state clash),
413 (body too large) and 429 (throttled), all with one shared error body
(config.api). drf-spectacular cannot know that, so it is added here once.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = "ApiError"
ERROR_DESCRIPTIONS = {
    "400": "Bad input: errors by field (the field name is the key).",
    "401": "No, an invalid or a revoked API key.",
    "403": "The caller lacks the permission this operation declares.",
    "404": "No such object, or not visible to the caller.",
    "409": "The request clashes with the current state.",
    "413": "The request body is larger than MAX_REQUEST_BODY_BYTES.",
    "429": "Throttled: retry later.",
}


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add the shared error schema and its responses to every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = {
        "type": "object",
        "description": "Every API error: `detail` and `code`, or messages by field.",
        "properties": {
            "detail": {"type": "string"},
            "code": {"type": "string"},
        },
        "additionalProperties": True,
    }
    reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_DESCRIPTIONS.items():
                given = responses.get(code, {})
                responses[code] = {
                    "description": given.get("description") or description,
                    "content": {"application/json": {"schema": reference}},
                }
    return result
