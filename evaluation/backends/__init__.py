"""Model backends: how a (prompt version, model version) pair produces SQL.

`backend_for` is the one entry point; the providers here are `openai` (any
OpenAI-compatible chat-completions endpoint) and `offline-retrieval` (the nearest
few-shot example, no network). Apps above evaluation add providers with
`register_provider`: feedback adds `replay` (SQL production already generated).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from evaluation.backends.base import Backend, Generation
from evaluation.backends.chat import ChatCompletionsBackend
from evaluation.backends.retrieval import OfflineRetrievalBackend
from evaluation.exceptions import BackendConfigurationError
from registry.models import ModelVersion, PromptVersion

__all__ = [
    "Backend",
    "Generation",
    "backend_for",
    "check_backend",
    "endpoint_for",
    "register_provider",
]


@dataclass(frozen=True)
class _Provider:
    build: Callable[..., Backend]
    check: Callable[[ModelVersion], object]


_REGISTERED: dict[str, _Provider] = {}


def register_provider(
    provider: str,
    *,
    build: Callable[..., Backend],
    check: Callable[[ModelVersion], object],
) -> None:
    """Let an app above evaluation supply the backend of a provider.

    `build(prompt_version=..., model_version=...)` returns the backend;
    `check(model_version)` raises BackendConfigurationError when it cannot run.
    Called from an AppConfig's `ready()`; registering twice keeps the last.
    """
    _REGISTERED[provider] = _Provider(build=build, check=check)


def endpoint_for(model_version: ModelVersion) -> tuple[str, str]:
    """(URL, key) of the model version's endpoint, read from the environment.

    The names are LOOPGATE_ENDPOINT_<NAME>_URL and _KEY; a missing URL is a
    BackendConfigurationError naming the variable. The key may be empty for local
    servers (vLLM, Ollama) that do not check it.
    """
    name = model_version.endpoint_name.upper()
    url_var = f"LOOPGATE_ENDPOINT_{name}_URL"
    url = os.environ.get(url_var, "")
    if not name or not url:
        raise BackendConfigurationError(
            f"Model version {model_version.name!r} needs its endpoint URL in "
            f"{url_var}.",
            field="model_version",
        )
    return url, os.environ.get(f"LOOPGATE_ENDPOINT_{name}_KEY", "")


def check_backend(model_version: ModelVersion) -> None:
    """Raise BackendConfigurationError if the model version cannot run here."""
    if model_version.provider == ModelVersion.Provider.OPENAI:
        endpoint_for(model_version)
    elif model_version.provider in _REGISTERED:
        _REGISTERED[model_version.provider].check(model_version)
    elif model_version.provider != ModelVersion.Provider.OFFLINE_RETRIEVAL:
        raise BackendConfigurationError(
            f"Unknown provider {model_version.provider!r}.", field="model_version"
        )


def backend_for(
    *, prompt_version: PromptVersion, model_version: ModelVersion
) -> Backend:
    """Build the backend that answers questions for this pair.

    Few-shot examples belong to the template's target database; questions on other
    databases get no examples (and no answer from the retrieval baseline).
    """
    check_backend(model_version)
    database = prompt_version.template.target_database.name
    examples = prompt_version.few_shot_examples
    provider = model_version.provider
    if provider == ModelVersion.Provider.OFFLINE_RETRIEVAL:
        return OfflineRetrievalBackend(examples=examples, example_database=database)
    if provider in _REGISTERED:
        return _REGISTERED[provider].build(
            prompt_version=prompt_version, model_version=model_version
        )
    url, key = endpoint_for(model_version)
    return ChatCompletionsBackend(
        base_url=url,
        api_key=key,
        model=model_version.model_identifier,
        template_text=prompt_version.template_text,
        prompt_parameters=prompt_version.parameters,
        examples=examples,
        example_database=database,
        generation_parameters=model_version.generation_parameters,
        timeout_s=settings.EVALUATION_BACKEND_TIMEOUT_S,
        max_attempts=settings.EVALUATION_BACKEND_MAX_ATTEMPTS,
        backoff_s=settings.EVALUATION_BACKEND_BACKOFF_MS / 1000.0,
    )
