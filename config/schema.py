"""The OpenAPI schema: operation names, tags, examples and the shared error responses.

`ApiSchema` names each operation by its path below /api/v1/ (for example
`feedback_interactions_create`), tags it with its area (registry, feedback,
evaluation, governance: the first path segment, see SCHEMA_PATH_PREFIX) and attaches
the request example of `config.schema_examples`, so generated clients get readable
modules and every write operation shows a body that works.

Any API operation can answer 400 (bad input, including bad pagination or
headers), 401 (no or a bad key), 403 (no permission), 404, 409 (state clash),
413 (body too large) and 429 (throttled), all with one shared error body
(config.api). drf-spectacular cannot know that, so it is added here once.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample

from config.schema_examples import REQUEST_EXAMPLES

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


class ApiSchema(AutoSchema):
    """drf-spectacular's schema with Loopgate's operation names and examples."""

    def get_operation_id(self) -> str:
        # A path such as `model-card.<fmt>` would leave a dot in the name.
        return super().get_operation_id().replace("._", "_file_")

    def get_examples(self) -> list[OpenApiExample]:
        given = super().get_examples()
        example = REQUEST_EXAMPLES.get(self.get_operation_id())
        if given or example is None or self.method == "GET":
            return given
        summary, value = example
        return [OpenApiExample(summary, value=value, request_only=True)]


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
