"""Four-eyes by identity and by contribution, on every path: whoever requested,
edited or wrote the candidate of a request cannot approve, reject or override it,
and nobody holds a working key for another person's account."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from accounts.exceptions import TokenError
from accounts.models import ApiToken
from accounts.services import issue_api_token
from audit.models import AuditEvent
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from governance.amendments import edit_promotion_request
from governance.approvals import approve_promotion
from governance.exceptions import NotPermittedError, SelfApprovalError
from governance.models import PromotionRequest
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, summary

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]
API = "/api/v1/governance/promotions"


@pytest.fixture
def author(make_user: Callable[..., User]) -> User:
    return make_user("wren", "ml_lead")


@pytest.fixture
def champion(production: Label, snapshot: GoldenSetSnapshot) -> EvaluationRun:
    return make_run(
        production.prompt_version,
        production.model_version,
        snapshot,
        summary(0.70),
        matches=[True, True, False, False],
    )


def _candidate(template: PromptTemplate, author: User, model: ModelVersion,
               snapshot: GoldenSetSnapshot, name: str) -> EvaluationRun:  # fmt: skip
    return make_run(
        new_prompt(template, author, name),
        model,
        snapshot,
        summary(0.75),
        matches=[True, False, True, True],
    )


@pytest.fixture
def request_by_mleng(
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    champion: EvaluationRun,
    author: User,
    make_user: Callable[..., User],
) -> PromotionRequest:
    mleng = make_user("mleng", "ml_lead")
    run = _candidate(template, author, model_v1, snapshot, "v2")
    return request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=run.model_version,
        candidate_run=run,
        rationale="better",
        requested_by=mleng,
    )


def _edited_by(request: PromotionRequest, editor: User) -> PromotionRequest:
    run = _candidate(
        request.template,
        request.requested_by,  # type: ignore[arg-type]
        request.model_version,
        request.candidate_run.snapshot,  # type: ignore[union-attr]
        "v3",
    )
    return edit_promotion_request(
        request=request,
        acting_user=editor,
        candidate_run=run,
        prompt_version=run.prompt_version,
    )


# (who decides, how they contributed) -> every path refuses with four_eyes.
CONTRIBUTORS = ["requester", "editor", "author"]
PATHS = ["api-approve", "api-reject", "api-override", "admin-page", "admin-action"]


def _contributor(kind: str, request: PromotionRequest, author: User,
                 make_user: Callable[..., User]) -> User:  # fmt: skip
    if kind == "requester":
        return request.requested_by  # type: ignore[return-value]
    if kind == "author":
        return author
    editor = make_user("mllead", "ml_lead", is_staff=True, is_superuser=True)
    _edited_by(request, editor)
    return editor


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", CONTRIBUTORS)
def test_a_contributor_cannot_decide_on_any_path(
    kind: str,
    path: str,
    request_by_mleng: PromotionRequest,
    author: User,
    make_user: Callable[..., User],
    client_as: Callable[[User], APIClient],
) -> None:
    request = request_by_mleng
    person = _contributor(kind, request, author, make_user)
    person.is_staff = person.is_superuser = True
    person.save(update_fields=["is_staff", "is_superuser"])
    request.refresh_from_db()
    pk = request.pk
    if path.startswith("api-"):
        verb = path.removeprefix("api-")
        body = {"comment": "mine", "reason": "mine"}
        response = client_as(person).post(f"{API}/{pk}/{verb}/", body, format="json")
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "four_eyes"
    else:
        client = Client()
        client.force_login(person)
        if path == "admin-page":
            url = f"/admin/governance/promotionrequest/{pk}/review/"
            client.post(url, {"action": "approve", "comment": "mine"})
        else:
            client.post(
                "/admin/governance/promotionrequest/",
                {
                    "action": "approve_selected",
                    "_selected_action": [pk],
                    "comment": "x",
                },
            )
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.PENDING
    assert not request.approvals.exists()


def test_someone_who_only_read_the_request_may_approve_it(
    request_by_mleng: PromotionRequest, make_user: Callable[..., User]
) -> None:
    reviewer = make_user("lee2", "ml_lead")
    approve_promotion(request=request_by_mleng, approver=reviewer, comment="ok")
    request_by_mleng.refresh_from_db()
    assert request_by_mleng.status == PromotionRequest.Status.PROMOTED


def test_the_refusal_says_how_the_person_contributed(
    request_by_mleng: PromotionRequest, make_user: Callable[..., User]
) -> None:
    editor = make_user("ed", "ml_lead")
    _edited_by(request_by_mleng, editor)
    with pytest.raises(SelfApprovalError, match="edited it"):
        approve_promotion(request=request_by_mleng, approver=editor)


def test_a_service_account_cannot_decide(
    request_by_mleng: PromotionRequest, make_user: Callable[..., User]
) -> None:
    bot = make_user("bot", "ml_lead", "service_account")
    with pytest.raises(NotPermittedError):
        approve_promotion(request=request_by_mleng, approver=bot)


# --- keys: minted by the person, or by an administrator for a service account --


def test_nobody_mints_a_key_for_another_person(
    make_user: Callable[..., User],
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    lead = make_user("mllead", "ml_lead")
    with pytest.raises(TokenError, match="only they can mint it"):
        issue_api_token(user=lead, name="for you", acting_user=admin)
    with pytest.raises(TokenError):
        issue_api_token(user=lead, name="from the shell", acting_user=None)
    token, _ = issue_api_token(user=lead, name="mine", acting_user=lead)
    event = AuditEvent.objects.get(event_type="accounts.token.issued")
    assert event.actor == lead
    assert event.data["minted_by"] == "mllead"
    assert event.data["service_account"] is False
    assert ApiToken.objects.get() == token


def test_service_accounts_get_keys_from_admins_and_never_approval_roles(
    make_user: Callable[..., User],
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    bot = make_user("assistant", "analyst", "service_account")
    issue_api_token(user=bot, name="assistant", acting_user=admin)
    stranger = make_user("ana2", "analyst")
    with pytest.raises(TokenError, match="administrator"):
        issue_api_token(user=bot, name="x", acting_user=stranger)
    bot.groups.add(Group.objects.get(name="ml_lead"))
    with pytest.raises(TokenError, match="approval roles"):
        issue_api_token(user=bot, name="y", acting_user=admin)


def test_a_key_minted_for_someone_else_does_not_authenticate(
    make_user: Callable[..., User], request_by_mleng: PromotionRequest
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    lead = make_user("mllead", "ml_lead")
    key = "lg_forged-by-admin"
    from accounts.services import digest_key

    ApiToken.objects.create(
        name="legacy", user=lead, prefix=key[:10], key_digest=digest_key(key),
        created_by=admin,
    )  # fmt: skip
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(f"{API}/{request_by_mleng.pk}/approve/", {}, format="json")
    assert response.status_code == 401
    assert "someone else" in response.json()["detail"]


def test_a_service_account_key_stops_working_once_it_holds_an_approval_role(
    make_user: Callable[..., User],
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    bot = make_user("assistant", "analyst", "service_account")
    _, key = issue_api_token(user=bot, name="assistant", acting_user=admin)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/registry/templates/").status_code == 200
    bot.groups.add(Group.objects.get(name="ml_lead"))
    assert client.get("/api/v1/registry/templates/").status_code == 401


def test_admin_refuses_to_mint_a_key_for_another_person(
    make_user: Callable[..., User],
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    lead = make_user("mllead", "ml_lead")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/accounts/apitoken/add/", {"name": "for lead", "user": lead.pk}
    )
    assert response.status_code == 200
    assert b"only they can mint it" in response.content
    assert not ApiToken.objects.exists()


def test_command_mints_only_for_service_accounts(
    make_user: Callable[..., User], capsys: pytest.CaptureFixture[str]
) -> None:
    make_user("mllead", "ml_lead")
    make_user("assistant", "analyst", "service_account")
    with pytest.raises(CommandError, match="only they can mint it"):
        call_command("create_api_token", "mllead", "--name", "x")
    call_command("create_api_token", "assistant", "--name", "client")
    assert capsys.readouterr().out.strip().startswith("lg_")
