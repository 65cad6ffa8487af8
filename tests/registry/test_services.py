from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from audit.exceptions import AppendOnlyError
from audit.models import AuditEvent
from registry.exceptions import (
    DuplicateVersionError,
    NotServableError,
    RegistryError,
)
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.selectors import resolve_pair, route_session
from registry.services import (
    create_prompt_version,
    move_label,
    register_model_version,
)
from tests.helpers import TEMPLATE_TEXT


def new_version(
    template: PromptTemplate, author: User, **changes: object
) -> PromptVersion:
    fields: dict[str, object] = {
        "template_text": TEMPLATE_TEXT,
        "few_shot_examples": [],
        "parameters": {},
        "changelog": "change",
        **changes,
    }
    return create_prompt_version(template=template, author=author, **fields)


def test_versions_number_sequentially_and_chain_to_parent(
    prompt_v1: PromptVersion, ml_lead: User
) -> None:
    v2 = new_version(prompt_v1.template, ml_lead, parameters={"max_examples": 3})
    assert (prompt_v1.number, v2.number) == (1, 2)
    assert v2.parent == prompt_v1
    assert len(v2.content_hash) == 64
    assert v2.content_hash != prompt_v1.content_hash
    event = AuditEvent.objects.get(
        event_type="registry.prompt_version.created", subject_id=str(v2.pk)
    )
    assert event.actor == ml_lead
    assert event.data["number"] == 2


def test_identical_content_is_refused(prompt_v1: PromptVersion, ml_lead: User) -> None:
    with pytest.raises(DuplicateVersionError, match="Identical to version 1"):
        create_prompt_version(
            template=prompt_v1.template,
            template_text=prompt_v1.template_text,
            few_shot_examples=prompt_v1.few_shot_examples,
            parameters=prompt_v1.parameters,
            changelog="again",
            author=ml_lead,
        )
    assert PromptVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"template_text": "No placeholders at all"}, "template_text"),
        ({"template_text": "{question} {secret}"}, "template_text"),
        ({"template_text": "{question"}, "template_text"),
        ({"few_shot_examples": [{"question": "q"}]}, "few_shot_examples[0]"),
        (
            {"few_shot_examples": [{"question": "q", "sql": "SELEC FROM WHERE ("}]},
            "few_shot_examples[0].sql",
        ),
        ({"parameters": ["not", "a", "dict"]}, "parameters"),
    ],
)
def test_malformed_content_names_the_field(
    template: PromptTemplate, ml_lead: User, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(RegistryError) as excinfo:
        new_version(template, ml_lead, **changes)
    assert excinfo.value.field == field
    assert not PromptVersion.objects.exists()


def test_prompt_versions_cannot_be_saved_or_deleted(prompt_v1: PromptVersion) -> None:
    prompt_v1.template_text = "{question} changed"
    with pytest.raises(AppendOnlyError):
        prompt_v1.save()
    with pytest.raises(AppendOnlyError):
        prompt_v1.delete()
    prompt_v1.refresh_from_db()
    assert prompt_v1.template_text == TEMPLATE_TEXT


def test_model_versions_cannot_be_saved_or_deleted(model_v1: ModelVersion) -> None:
    model_v1.model_identifier = "other"
    with pytest.raises(AppendOnlyError):
        model_v1.save()
    with pytest.raises(AppendOnlyError):
        model_v1.delete()
    model_v1.refresh_from_db()
    assert model_v1.model_identifier == "nearest-example"


def test_identical_model_configuration_is_refused(
    model_v1: ModelVersion, ml_lead: User
) -> None:
    with pytest.raises(DuplicateVersionError):
        register_model_version(
            name="knn-copy",
            provider="offline-retrieval",
            model_identifier="nearest-example",
            generation_parameters={"neighbours": 1},
            endpoint_name="",
            acting_user=ml_lead,
        )


@pytest.mark.parametrize(
    ("provider", "endpoint", "field"),
    [
        ("openai", "https://api.example.com/v1", "endpoint_name"),
        ("openai", "sk-live-123", "endpoint_name"),
        ("openai", "", "endpoint_name"),
        ("gpt", "AZURE", "provider"),
    ],
)
def test_model_version_validation_names_the_field(
    ml_lead: User, provider: str, endpoint: str, field: str
) -> None:
    with pytest.raises(RegistryError) as excinfo:
        register_model_version(
            name="m",
            provider=provider,
            model_identifier="gpt-4o",
            generation_parameters={},
            endpoint_name=endpoint,
            acting_user=ml_lead,
        )
    assert excinfo.value.field == field


def test_label_move_records_who_when_from_to_and_why(
    production: Label, prompt_v1: PromptVersion, model_v1: ModelVersion, ml_lead: User
) -> None:
    v2 = new_version(prompt_v1.template, ml_lead, parameters={"max_examples": 5})
    moved = move_label(
        template=prompt_v1.template,
        name=Label.Name.PRODUCTION,
        prompt_version=v2,
        model_version=model_v1,
        reason="v2 wins on every segment",
        acting_user=ml_lead,
    )
    assert moved.pk == production.pk
    assert moved.prompt_version == v2
    event = AuditEvent.objects.filter(event_type="registry.label.moved").first()
    assert event is not None
    assert event.actor == ml_lead
    assert event.reason == "v2 wins on every segment"
    assert event.data["from"]["prompt_version"] == prompt_v1.pk
    assert event.data["to"]["prompt_version"] == v2.pk
    history = list(moved.history.order_by("history_date"))
    assert [h.prompt_version_id for h in history] == [prompt_v1.pk, v2.pk]
    assert history[-1].history_user == ml_lead


def test_label_move_refuses_a_version_of_another_template(
    production: Label, model_v1: ModelVersion, ml_lead: User, target_db: object
) -> None:
    from registry.services import create_template

    other = create_template(
        name="other",
        description="",
        owner=ml_lead,
        risk_tier=1,
        target_database=production.template.target_database,
        acting_user=ml_lead,
    )
    foreign = new_version(other, ml_lead)
    with pytest.raises(RegistryError) as excinfo:
        move_label(
            template=production.template,
            name="production",
            prompt_version=foreign,
            model_version=model_v1,
            reason="x",
            acting_user=ml_lead,
        )
    assert excinfo.value.field == "prompt_version"
    production.refresh_from_db()
    assert production.prompt_version_id != foreign.pk


def test_label_move_needs_a_reason_and_a_valid_share(
    production: Label, prompt_v1: PromptVersion, model_v1: ModelVersion
) -> None:
    base = {
        "template": prompt_v1.template,
        "prompt_version": prompt_v1,
        "model_version": model_v1,
        "acting_user": None,
    }
    with pytest.raises(RegistryError, match="reason"):
        move_label(name="challenger", reason=" ", **base)  # type: ignore[arg-type]
    with pytest.raises(RegistryError) as excinfo:
        move_label(  # type: ignore[arg-type]
            name="challenger", reason="try", traffic_share=Decimal("1.5"), **base
        )
    assert excinfo.value.field == "traffic_share"
    assert not Label.objects.filter(name="challenger").exists()


def test_resolve_without_production_is_refused(template: PromptTemplate) -> None:
    with pytest.raises(NotServableError):
        resolve_pair(template=template, session_id="s")


def test_challenger_routing_is_sticky_and_proportional(
    production: Label, prompt_v1: PromptVersion, model_v1: ModelVersion, ml_lead: User
) -> None:
    v2 = new_version(prompt_v1.template, ml_lead, parameters={"max_examples": 9})
    move_label(
        template=prompt_v1.template,
        name=Label.Name.CHALLENGER,
        prompt_version=v2,
        model_version=model_v1,
        traffic_share=Decimal("0.10"),
        reason="10% trial",
        acting_user=ml_lead,
    )
    template = prompt_v1.template
    labels = {label.name: label for label in Label.objects.filter(template=template)}
    served = {
        f"session-{i}": route_session(
            template=template, labels=labels, session_id=f"session-{i}"
        )
        for i in range(10_000)
    }
    share = sum(r.label.name == "challenger" for r in served.values()) / len(served)
    assert abs(share - 0.10) <= 0.01
    for session_id in list(served)[:500]:
        again = resolve_pair(template=template, session_id=session_id)
        assert again.label.name == served[session_id].label.name
    challenger_sessions = [s for s, r in served.items() if r.label.name == "challenger"]
    assert all(served[s].label.prompt_version_id == v2.pk for s in challenger_sessions)
