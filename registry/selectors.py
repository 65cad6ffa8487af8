"""Registry reads: the one place that shapes querysets for callers."""

import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import CharField, IntegerField, QuerySet, Value

from registry.exceptions import NotServableError
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.routing import takes_session


def list_templates() -> QuerySet[PromptTemplate]:
    """Templates with what their list rendering needs, in one query."""
    return PromptTemplate.objects.select_related("owner", "target_database")


def list_prompt_versions() -> QuerySet[PromptVersion]:
    """Prompt versions with template and author joined."""
    return PromptVersion.objects.select_related("template", "author")


def list_model_versions() -> QuerySet[ModelVersion]:
    """Model versions with their creator joined."""
    return ModelVersion.objects.select_related("created_by")


def list_labels() -> QuerySet[Label]:
    """Labels with the pair they point at joined."""
    return Label.objects.select_related(
        "template", "prompt_version", "model_version", "moved_by"
    )


@dataclass(frozen=True)
class KnownVersions:
    """Which of some prompt and model version ids exist, and their templates."""

    # Prompt version id -> (template id, template name).
    prompts: dict[int, tuple[int, str]]
    models: set[int]


# Ids seen to exist, per process: prompt version -> (template id, template name),
# and model versions. Versions are append-only and never deleted, so a positive
# answer stays true; a template's name may change, so the memory is dropped when
# any registry row is saved here (registry.apps) and every KNOWN_TTL_SECONDS.
_known_prompts: dict[int, tuple[int, str]] = {}
_known_models: set[int] = set()
_known_since = time.monotonic()
KNOWN_TTL_SECONDS = 30.0
_KNOWN_MAX = 10_000


def forget_known_versions() -> None:
    """Drop this process's memory of existing version ids."""
    global _known_since
    _known_prompts.clear()
    _known_models.clear()
    _known_since = time.monotonic()


def known_versions(
    *, prompt_versions: set[int], model_versions: set[int]
) -> KnownVersions:
    """Look up prompt versions (with their template) and model versions at once.

    One query for both, so that storing one interaction costs at most one round
    trip for its ids, and none when this process has seen them lately.
    """
    if (
        time.monotonic() - _known_since > KNOWN_TTL_SECONDS
        or len(_known_prompts) + len(_known_models) > _KNOWN_MAX
    ):
        forget_known_versions()
    missing_prompts = prompt_versions - _known_prompts.keys()
    missing_models = model_versions - _known_models
    if missing_prompts or missing_models:
        prompts = (
            PromptVersion.objects.filter(pk__in=missing_prompts)
            .order_by()
            .values_list(
                Value("prompt", output_field=CharField()),
                "pk",
                "template_id",
                "template__name",
            )
        )
        models = (
            ModelVersion.objects.filter(pk__in=missing_models)
            .order_by()
            .values_list(
                Value("model", output_field=CharField()),
                "pk",
                Value(0, output_field=IntegerField()),
                Value("", output_field=CharField()),
            )
        )
        for kind, pk, template_id, template_name in prompts.union(models, all=True):
            if kind == "prompt":
                _known_prompts[pk] = (template_id, template_name)
            else:
                _known_models.add(pk)
    return KnownVersions(
        prompts={
            pk: _known_prompts[pk] for pk in prompt_versions & _known_prompts.keys()
        },
        models=model_versions & _known_models,
    )


@dataclass(frozen=True)
class Resolution:
    """The pair an assistant must serve for one session, and the shadow pair."""

    template: PromptTemplate
    label: Label
    shadow: Label | None


def resolve_pair(*, template: PromptTemplate, session_id: str) -> Resolution:
    """Choose the labels serving `session_id` on `template` (one query, read-only)."""
    labels = {label.name: label for label in list_labels().filter(template=template)}
    return route_session(template=template, labels=labels, session_id=session_id)


def route_session(
    *, template: PromptTemplate, labels: Mapping[str, Label], session_id: str
) -> Resolution:
    """Production normally; other labels for sticky shares of sessions.

    Each share is the label's `traffic_share`, decided by a hash of the session
    id (one salt per label) so a session keeps its pair. The holdout comes
    first: its sessions see only the frozen baseline, never a rollout, a
    challenger or a shadow. Then the rollout, then the challenger. The shadow
    pair is returned alongside for its own sticky share, run without being shown.
    """
    production = labels.get(Label.Name.PRODUCTION)
    if production is None:
        raise NotServableError(
            f"Template {template.name!r} has no production label yet."
        )

    def takes(name: str) -> Label | None:
        label = labels.get(name)
        if label is not None and takes_session(
            template_name=template.name,
            label_name=label.name,
            share=float(label.traffic_share),
            session_id=session_id,
        ):
            return label
        return None

    holdout = takes(Label.Name.HOLDOUT)
    if holdout is not None:
        return Resolution(template=template, label=holdout, shadow=None)
    chosen = takes(Label.Name.ROLLOUT) or takes(Label.Name.CHALLENGER) or production
    return Resolution(template=template, label=chosen, shadow=takes(Label.Name.SHADOW))
