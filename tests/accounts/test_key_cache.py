"""Keys that passed authentication are remembered per process, for seconds only."""

import time
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import issue_api_token, revoke_api_token
from registry.models import Label

pytestmark = pytest.mark.django_db

RESOLVE = "/api/v1/registry/resolve/?template=concerts&session_id=s1"


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.fixture
def short_cache(settings: Any) -> float:
    settings.API_KEY_CACHE_SECONDS = 1
    return 1.1


def test_a_remembered_key_costs_no_query_to_authenticate(
    production: Label, analyst: User, api_client: APIClient
) -> None:
    _, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    api_client.get(RESOLVE, **bearer(key))
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(RESOLVE, **bearer(key)).status_code == 200
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "governance_apitoken" not in tables
    assert "auth_group" not in tables
    assert "auth_permission" not in tables


def test_revoking_a_key_refuses_it_at_once_in_the_same_process(
    production: Label, analyst: User, ml_lead: User, api_client: APIClient
) -> None:
    token, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 200
    revoke_api_token(token=token, acting_user=ml_lead, reason="leaked")
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 401


def test_a_key_revoked_by_another_process_stops_within_the_cache_lifetime(
    production: Label, analyst: User, api_client: APIClient, short_cache: float
) -> None:
    token, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 200
    # Another server process revokes it: this process's memory is not told.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 200
    time.sleep(short_cache)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 401


def test_a_removed_role_stops_granting_within_the_cache_lifetime(
    production: Label, analyst: User, api_client: APIClient, short_cache: float
) -> None:
    _, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 200
    analyst.groups.remove(Group.objects.get(name="analyst"))
    time.sleep(short_cache)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 403


def test_a_disabled_account_stops_within_the_cache_lifetime(
    production: Label, analyst: User, api_client: APIClient, short_cache: float
) -> None:
    _, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 200
    User.objects.filter(pk=analyst.pk).update(is_active=False)
    time.sleep(short_cache)
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 401
