"""The per-process memory of existing version ids used by single-event ingestion."""

import pytest

from registry import selectors
from registry.models import ModelVersion, PromptVersion

pytestmark = pytest.mark.django_db


def test_seen_ids_cost_no_query_and_a_template_rename_is_seen_at_once(
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    django_assert_num_queries: object,
) -> None:
    ids = {"prompt_versions": {prompt_v1.pk}, "model_versions": {model_v1.pk}}
    selectors.forget_known_versions()
    with django_assert_num_queries(1):  # type: ignore[operator]
        first = selectors.known_versions(**ids)
    with django_assert_num_queries(0):  # type: ignore[operator]
        again = selectors.known_versions(**ids)
    assert again == first
    assert again.prompts[prompt_v1.pk] == (
        prompt_v1.template_id,
        prompt_v1.template.name,
    )
    template = prompt_v1.template
    template.name = "renamed"
    template.save()
    with django_assert_num_queries(1):  # type: ignore[operator]
        renamed = selectors.known_versions(**ids)
    assert renamed.prompts[prompt_v1.pk] == (template.pk, "renamed")


def test_unknown_ids_are_asked_again_and_never_remembered(
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    django_assert_num_queries: object,
) -> None:
    selectors.forget_known_versions()
    missing = {"prompt_versions": {prompt_v1.pk + 999}, "model_versions": {model_v1.pk}}
    for _ in range(2):
        with django_assert_num_queries(1):  # type: ignore[operator]
            found = selectors.known_versions(**missing)
        assert found.prompts == {}
        # The known model id is remembered; only the unknown prompt is asked again.
        missing = {"prompt_versions": {prompt_v1.pk + 999}, "model_versions": set()}


def test_memory_expires(
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    django_assert_num_queries: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = {"prompt_versions": {prompt_v1.pk}, "model_versions": {model_v1.pk}}
    selectors.forget_known_versions()
    selectors.known_versions(**ids)
    monkeypatch.setattr(selectors, "KNOWN_TTL_SECONDS", -1.0)
    with django_assert_num_queries(1):  # type: ignore[operator]
        selectors.known_versions(**ids)
