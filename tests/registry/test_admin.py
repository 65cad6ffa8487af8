from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from accounts.models import ApiToken
from audit.models import AuditEvent
from registry.models import Label, ModelVersion, PromptVersion
from registry.services import create_prompt_version
from tests.helpers import TEMPLATE_TEXT

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client: Client) -> Callable[[User], Client]:
    def login(user: User) -> Client:
        client.force_login(user)
        return client

    return login


@pytest.fixture
def superuser(make_user: Callable[..., User]) -> User:
    return make_user("root", is_superuser=True, is_staff=True)


def test_admin_adds_a_version_through_the_service(
    prompt_v1: PromptVersion,
    superuser: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    client = admin_client_for(superuser)
    response = client.post(
        "/admin/registry/promptversion/add/",
        {
            "template": prompt_v1.template_id,
            "template_text": TEMPLATE_TEXT + "\nBe brief.",
            "few_shot_examples": "[]",
            "parameters": "{}",
            "changelog": "From the admin",
        },
    )
    assert response.status_code == 302, response.content
    v2 = PromptVersion.objects.get(number=2)
    assert (v2.parent, v2.author) == (prompt_v1, superuser)
    assert AuditEvent.objects.filter(
        event_type="registry.prompt_version.created", subject_id=str(v2.pk)
    ).exists()


def test_admin_shows_content_errors_on_the_form(
    prompt_v1: PromptVersion,
    superuser: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    response = admin_client_for(superuser).post(
        "/admin/registry/promptversion/add/",
        {
            "template": prompt_v1.template_id,
            "template_text": "no placeholder",
            "few_shot_examples": '[{"question": "q", "sql": "SELEC ((("}]',
            "parameters": "{}",
            "changelog": "broken",
        },
    )
    assert response.status_code == 200
    assert b"{question} placeholder" in response.content
    assert PromptVersion.objects.count() == 1


def test_admin_cannot_change_or_delete_versions(
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    superuser: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    client = admin_client_for(superuser)
    url = f"/admin/registry/promptversion/{prompt_v1.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="template_text"' not in page.content  # rendered read-only
    client.post(url, {"template_text": "{question} edited", "changelog": "x"})
    assert (
        client.post(
            f"/admin/registry/promptversion/{prompt_v1.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    client.post(
        f"/admin/registry/modelversion/{model_v1.pk}/change/", {"model_identifier": "x"}
    )
    prompt_v1.refresh_from_db()
    model_v1.refresh_from_db()
    assert prompt_v1.template_text == TEMPLATE_TEXT
    assert model_v1.model_identifier == "nearest-example"


def test_admin_diff_view_shows_what_changed(
    prompt_v1: PromptVersion,
    superuser: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    v2 = create_prompt_version(
        template=prompt_v1.template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=[
            {"question": "Stadiums?", "sql": "SELECT name FROM stadium"}
        ],
        parameters={},
        changelog="swap example",
        author=superuser,
    )
    page = admin_client_for(superuser).get(
        f"/admin/registry/promptversion/{v2.pk}/diff/"
    )
    assert page.status_code == 200
    assert b"Stadiums?" in page.content
    assert b"How many singers?" in page.content


def test_labels_cannot_be_moved_in_the_admin(
    production: Label, superuser: User, admin_client_for: Callable[[User], Client]
) -> None:
    client = admin_client_for(superuser)
    assert client.get("/admin/registry/label/add/").status_code == 403
    assert (
        client.get(f"/admin/registry/label/{production.pk}/history/").status_code == 200
    )


def test_auditor_reads_the_audit_trail_but_cannot_change_it(
    production: Label, auditor: User, admin_client_for: Callable[[User], Client]
) -> None:
    client = admin_client_for(auditor)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    event = AuditEvent.objects.first()
    assert event is not None
    client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"reason": "x"})
    assert (
        client.post(
            f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert client.get("/admin/registry/promptversion/add/").status_code == 403
    event.refresh_from_db()
    assert event.reason == production.reason


def test_admin_issues_a_token_and_shows_the_key_once(
    analyst: User, superuser: User, admin_client_for: Callable[[User], Client]
) -> None:
    # A client account: administrators mint keys for service accounts only.
    analyst.groups.add(Group.objects.get(name="service_account"))
    client = admin_client_for(superuser)
    response = client.post(
        "/admin/accounts/apitoken/add/",
        {"name": "bi-tool", "user": analyst.pk},
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="bi-tool")
    messages = [str(m) for m in response.context["messages"]]
    key = next(m.split(": ")[-1] for m in messages if "shown once" in m)
    assert key.startswith(token.prefix)
    assert token.created_by == superuser
