"""Standing guard: every API operation, fuzzed from its own OpenAPI schema, as
the assistant's analyst key and as a superuser: no server error, and every
response conforms to the schema (status code, content type, body)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import issue_api_token
from config.wsgi import application
from registry.models import Label

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
EXAMPLES_PER_OPERATION = 8


@pytest.fixture(autouse=True)
def keep_test_connection() -> Iterator[None]:
    """Calls go through the WSGI handler, whose request signals close database
    connections (and with them the test's transaction on PostgreSQL); Django's
    test client disconnects the same handler while it serves a request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def identities(
    make_user: Callable[..., User], production: Label
) -> list[dict[str, str]]:
    """Bearer headers: the assistant's analyst client and a superuser."""
    assistant = make_user("assistant", "analyst", "service_account")
    root = make_user("root", is_staff=True, is_superuser=True)
    # An administrator mints the client's key; the superuser mints their own.
    _, client_key = issue_api_token(user=assistant, name="fuzz", acting_user=root)
    _, root_key = issue_api_token(user=root, name="fuzz", acting_user=root)
    return [{"Authorization": f"Bearer {key}"} for key in (client_key, root_key)]


# Generating the schema reads no table: it can be loaded while collecting.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_api_answers_without_server_errors_and_as_documented(
    case: Any, identities: list[dict[str, str]]
) -> None:
    for headers in identities:
        case.call_and_validate(headers=headers, checks=CHECKS)
