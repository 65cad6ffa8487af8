from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from governance.models import ApiToken
from registry.models import Label

pytestmark = pytest.mark.django_db


def run_demo() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def test_demo_seeds_a_servable_registry_and_can_run_again(
    api_client: APIClient,
) -> None:
    first = run_demo()
    assert "created  template concert-analytics with prompt v1 on production" in first
    label = Label.objects.get(template__name="concert-analytics", name="production")
    assert label.model_version.provider == "offline-retrieval"
    key = first.split("(shown once): ")[1].split()[0]
    response = api_client.get(
        "/api/v1/registry/resolve/?template=concert-analytics&session_id=s",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200

    second = run_demo()
    assert "reused   template concert-analytics" in second
    assert "created  template" not in second
    assert Label.objects.count() == 1
    # The earlier key is revoked: a key is only shown when it is issued.
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1
    assert (
        api_client.get(
            "/api/v1/registry/resolve/?template=concert-analytics&session_id=s",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        ).status_code
        == 401
    )
