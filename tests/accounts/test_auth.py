from collections.abc import Callable
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from accounts.exceptions import TokenError
from accounts.models import ApiToken
from accounts.services import (
    issue_api_token,
    revoke_api_token,
)
from audit.models import AuditEvent
from registry.models import Label

pytestmark = pytest.mark.django_db

RESOLVE = "/api/v1/registry/resolve/?template=concerts&session_id=s1"


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_valid_token_authenticates_as_its_client(
    production: Label, analyst: User, api_client: APIClient
) -> None:
    token, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    response = api_client.get(RESOLVE, **bearer(key))
    assert response.status_code == 200
    assert response.json()["serve"]["label"] == "production"
    stored = ApiToken.objects.get(pk=token.pk)
    assert key not in {stored.key_digest, stored.prefix}
    assert stored.key_digest != key and len(stored.key_digest) == 64


def test_revoked_token_is_refused(
    production: Label, analyst: User, ml_lead: User, api_client: APIClient
) -> None:
    token, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    revoke_api_token(token=token, acting_user=ml_lead, reason="leaked")
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 401
    with pytest.raises(TokenError):
        revoke_api_token(token=token, acting_user=ml_lead)
    assert list(
        AuditEvent.objects.filter(
            subject_type="accounts.apitoken", subject_id=str(token.pk)
        )
        .order_by("id")
        .values_list("event_type", flat=True)
    ) == ["accounts.token.issued", "accounts.token.revoked"]


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer lg_unknown", "Bearer a b", "Token abc"]
)
def test_missing_or_bad_credentials_are_refused(
    production: Label, api_client: APIClient, header: str | None
) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    assert api_client.get(RESOLVE, **extra).status_code == 401


def test_token_of_disabled_client_is_refused(
    production: Label, analyst: User, api_client: APIClient
) -> None:
    _, key = issue_api_token(user=analyst, name="assistant", acting_user=analyst)
    analyst.is_active = False
    analyst.save(update_fields=["is_active"])
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 401


def test_token_needs_a_name(analyst: User) -> None:
    with pytest.raises(TokenError) as excinfo:
        issue_api_token(user=analyst, name=" ", acting_user=None)
    assert excinfo.value.field == "name"


def test_view_without_declared_permission_is_closed(
    make_user: Callable[..., User],
) -> None:
    class Undeclared(APIView):
        def get(self, request: object) -> Response:
            return Response({"secret": True})

        def post(self, request: object) -> Response:
            return Response({"secret": True})

    superuser = make_user("root", is_superuser=True)
    factory = APIRequestFactory()
    for method in ("get", "post"):
        request = getattr(factory, method)("/undeclared/")
        request.user = superuser
        from rest_framework.test import force_authenticate

        force_authenticate(request, user=superuser)
        assert Undeclared.as_view()(request).status_code == 403


def test_create_api_token_command_prints_a_working_key(
    production: Label, analyst: User, api_client: APIClient
) -> None:
    analyst.groups.add(Group.objects.get(name="service_account"))
    out = StringIO()
    call_command(
        "create_api_token", "ana", "--name", "cli", stdout=out, stderr=StringIO()
    )
    key = out.getvalue().strip()
    assert key.startswith("lg_")
    assert api_client.get(RESOLVE, **bearer(key)).status_code == 200


def test_roles_exist_as_groups() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "analyst",
        "senior_analyst",
        "ml_lead",
        "ai_safety",
        "product",
        "auditor",
    }


ROLE_ACCESS = [
    # role, method, url, expected status
    ("analyst", "get", "/api/v1/registry/templates/", 200),
    ("analyst", "get", RESOLVE, 200),
    ("analyst", "post", "/api/v1/registry/prompt-versions/", 403),
    ("analyst", "post", "/api/v1/registry/model-versions/", 403),
    ("senior_analyst", "get", RESOLVE, 200),
    ("ml_lead", "post", "/api/v1/registry/prompt-versions/", 201),
    ("ml_lead", "post", "/api/v1/registry/model-versions/", 201),
    ("ml_lead", "post", "/api/v1/registry/templates/", 201),
    ("ai_safety", "get", "/api/v1/registry/labels/", 200),
    ("ai_safety", "post", "/api/v1/registry/prompt-versions/", 403),
    ("product", "get", "/api/v1/registry/labels/", 200),
    ("product", "get", RESOLVE, 403),
    ("auditor", "get", "/api/v1/registry/prompt-versions/", 200),
    ("auditor", "post", "/api/v1/registry/templates/", 403),
    ("auditor", "post", "/api/v1/registry/model-versions/", 403),
]

PAYLOADS = {
    "/api/v1/registry/prompt-versions/": {
        "template": "concerts",
        "template_text": "Q: {question}",
        "changelog": "role test",
    },
    "/api/v1/registry/model-versions/": {
        "name": "role-test",
        "provider": "replay",
        "model_identifier": "replay",
    },
    "/api/v1/registry/templates/": {
        "name": "role-test",
        "risk_tier": 1,
        "target_database": "concert_singer",
    },
}


@pytest.mark.parametrize(("role", "method", "url", "expected"), ROLE_ACCESS)
def test_each_role_gets_what_its_work_needs(
    production: Label,
    make_user: Callable[..., User],
    api_client: APIClient,
    role: str,
    method: str,
    url: str,
    expected: int,
) -> None:
    person = make_user(f"u-{role}", role)
    _, key = issue_api_token(user=person, name="t", acting_user=person)
    response = getattr(api_client, method)(
        url, PAYLOADS.get(url, {}), format="json", **bearer(key)
    )
    assert response.status_code == expected, response.content
