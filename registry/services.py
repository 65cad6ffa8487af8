"""Every registry write with business meaning."""

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record_event
from registry import holdout_key
from registry.content import (
    ContentError,
    check_few_shot_examples,
    check_template_text,
    content_hash,
)
from registry.exceptions import (
    DuplicateVersionError,
    FrozenLabelError,
    RegistryError,
)
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from targets.models import TargetDatabase
from targets.restricted import parse_restricted

ENDPOINT_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@transaction.atomic
def create_template(
    *,
    name: str,
    description: str,
    owner: User,
    risk_tier: int,
    target_database: TargetDatabase,
    acting_user: User | None,
) -> PromptTemplate:
    """Register a use case. Records `registry.template.created`."""
    if risk_tier not in (1, 2, 3):
        raise RegistryError("Risk tier must be 1, 2 or 3.", field="risk_tier")
    if PromptTemplate.objects.filter(name=name).exists():
        raise DuplicateVersionError(
            f"A template named {name!r} already exists.", field="name"
        )
    template = PromptTemplate.objects.create(
        name=name,
        description=description,
        owner=owner,
        risk_tier=risk_tier,
        target_database=target_database,
    )
    record_event(
        event_type="registry.template.created",
        actor=acting_user,
        subject=template,
        data={"risk_tier": risk_tier, "target_database": target_database.name},
    )
    return template


def prompt_content(version: PromptVersion) -> dict[str, Any]:
    """The hashed content of a prompt version."""
    return {
        "template_text": version.template_text,
        "few_shot_examples": version.few_shot_examples,
        "parameters": version.parameters,
    }


@transaction.atomic
def create_prompt_version(
    *,
    template: PromptTemplate,
    template_text: str,
    few_shot_examples: list[dict[str, str]],
    parameters: dict[str, Any],
    changelog: str,
    author: User,
    parent: PromptVersion | None = None,
) -> PromptVersion:
    """Add the next immutable version of a template's prompt.

    `parent` defaults to the latest version. Identical content to an existing
    version is refused (409). Records `registry.prompt_version.created`.
    """
    # Serialise version numbering per template.
    template = PromptTemplate.objects.select_for_update().get(pk=template.pk)
    try:
        check_template_text(template_text)
        examples = check_few_shot_examples(
            few_shot_examples, dialect=template.target_database.dialect
        )
    except ContentError as exc:
        raise RegistryError(str(exc), field=exc.field) from None
    if not isinstance(parameters, dict):
        raise RegistryError("Must be an object.", field="parameters")
    if parent is not None and parent.template_id != template.pk:
        raise RegistryError("The parent belongs to another template.", field="parent")
    latest = template.versions.order_by("-number").first()
    digest = content_hash(
        {
            "template_text": template_text,
            "few_shot_examples": examples,
            "parameters": parameters,
        }
    )
    duplicate = template.versions.filter(content_hash=digest).first()
    if duplicate is not None:
        raise DuplicateVersionError(
            f"Identical to version {duplicate.number}; nothing to create."
        )
    version = PromptVersion.objects.create(
        template=template,
        number=(latest.number + 1) if latest else 1,
        template_text=template_text,
        few_shot_examples=examples,
        parameters=parameters,
        parent=parent or latest,
        content_hash=digest,
        author=author,
        changelog=changelog,
    )
    record_event(
        event_type="registry.prompt_version.created",
        actor=author,
        subject=version,
        reason=changelog,
        data={"template": template.name, "number": version.number, "hash": digest},
    )
    return version


@transaction.atomic
def register_model_version(
    *,
    name: str,
    provider: str,
    model_identifier: str,
    generation_parameters: dict[str, Any],
    endpoint_name: str,
    acting_user: User,
) -> ModelVersion:
    """Register an immutable model configuration.

    Identical configurations are refused (409). Records
    `registry.model_version.registered`.
    """
    if provider not in ModelVersion.Provider.values:
        raise RegistryError(f"Unknown provider {provider!r}.", field="provider")
    if not isinstance(generation_parameters, dict):
        raise RegistryError("Must be an object.", field="generation_parameters")
    if set(endpoint_name) - ENDPOINT_NAME_CHARS:
        raise RegistryError(
            "An endpoint name is an upper-case identifier such as AZURE_EAST, naming "
            "LOOPGATE_ENDPOINT_<NAME>_URL/_KEY variables; never a URL or a key.",
            field="endpoint_name",
        )
    if provider == ModelVersion.Provider.OPENAI and not endpoint_name:
        raise RegistryError(
            "An openai model version needs an endpoint name.", field="endpoint_name"
        )
    if ModelVersion.objects.filter(name=name).exists():
        raise DuplicateVersionError(
            f"A model version named {name!r} exists.", field="name"
        )
    digest = content_hash(
        {
            "provider": provider,
            "model_identifier": model_identifier,
            "generation_parameters": generation_parameters,
            "endpoint_name": endpoint_name,
        }
    )
    existing = ModelVersion.objects.filter(content_hash=digest).first()
    if existing is not None:
        raise DuplicateVersionError(f"Identical to model version {existing.name!r}.")
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(
                name=name,
                provider=provider,
                model_identifier=model_identifier,
                generation_parameters=generation_parameters,
                endpoint_name=endpoint_name,
                content_hash=digest,
                created_by=acting_user,
            )
    except IntegrityError:
        raise DuplicateVersionError("This model version was just registered.") from None
    record_event(
        event_type="registry.model_version.registered",
        actor=acting_user,
        subject=version,
        data={"provider": provider, "model_identifier": model_identifier},
    )
    return version


@transaction.atomic
def move_label(
    *,
    template: PromptTemplate,
    name: str,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    reason: str,
    acting_user: User | None,
    traffic_share: Decimal = Decimal(0),
    holdout: holdout_key.HoldoutKey | None = None,
) -> Label:
    """Point a template's label at a pair: the only way a label moves.

    Governance calls it once a promotion or rollback is approved. Records who,
    when, from, to and why as `registry.label.moved` (plus the label's history).
    The holdout label is refused (409) unless `holdout` is the key that only
    governance's baseline change holds (see `registry.holdout_key`).
    """
    if name not in Label.Name.values:
        raise RegistryError(f"Unknown label {name!r}.", field="name")
    if name == Label.Name.HOLDOUT and holdout is not holdout_key.KEY:
        raise FrozenLabelError(
            "The holdout is a frozen baseline: only a governed baseline change "
            "moves it.",
            field="name",
        )
    if prompt_version.template_id != template.pk:
        raise RegistryError(
            "The prompt version belongs to another template.", field="prompt_version"
        )
    if not reason.strip():
        raise RegistryError("A label move needs a reason.", field="reason")
    if not Decimal(0) <= traffic_share <= Decimal(1):
        raise RegistryError("Must be between 0 and 1.", field="traffic_share")
    if name == Label.Name.PRODUCTION and traffic_share != Decimal(0):
        raise RegistryError(
            "Production takes whatever the other labels leave.", field="traffic_share"
        )
    label = (
        Label.objects.select_for_update().filter(template=template, name=name).first()
    )
    before = (
        {
            "prompt_version": label.prompt_version_id,
            "model_version": label.model_version_id,
            "traffic_share": str(label.traffic_share),
        }
        if label
        else None
    )
    if label is None:
        label = Label(template=template, name=name)
    label.prompt_version = prompt_version
    label.model_version = model_version
    label.traffic_share = traffic_share
    label.moved_by = acting_user
    label.moved_at = timezone.now()
    label.reason = reason
    # History rows name the mover even outside a request (tasks, commands).
    label._history_user = acting_user  # type: ignore[attr-defined]
    if before is None:
        label.save()
    else:
        label.save(
            update_fields=[
                "prompt_version",
                "model_version",
                "traffic_share",
                "moved_by",
                "moved_at",
                "reason",
            ]
        )
    record_event(
        event_type="registry.label.moved",
        actor=acting_user,
        subject=label,
        reason=reason,
        data={
            "template": template.name,
            "label": name,
            "from": before,
            "to": {
                "prompt_version": prompt_version.pk,
                "model_version": model_version.pk,
                "traffic_share": str(traffic_share),
            },
        },
    )
    return label


@transaction.atomic
def set_restricted(
    *, template: PromptTemplate, entries: list[str], acting_user: User | None
) -> PromptTemplate:
    """Set the tables and columns the template's assistant must never read.

    Entries are "table" or "table.column" (a malformed one is a RegistryError
    naming `restricted`); they are stored as given, in order, without
    duplicates. Safety runs started afterwards score against them. Records
    `registry.template.restricted_set` with the old and new lists.
    """
    try:
        parse_restricted(entries)
    except ValueError as exc:
        raise RegistryError(str(exc), field="restricted") from None
    template = PromptTemplate.objects.select_for_update().get(pk=template.pk)
    before = list(template.restricted)
    template.restricted = list(dict.fromkeys(e.strip() for e in entries))
    template.save(update_fields=["restricted"])
    record_event(
        event_type="registry.template.restricted_set",
        actor=acting_user,
        subject=template,
        data={"before": before, "after": template.restricted},
    )
    return template
