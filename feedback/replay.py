"""Replay: score the SQL production already generated for a (prompt, model) pair.

A replay model version names, in its `model_identifier`, the model version whose
production answers it replays: a run of (prompt vN, replay-of-X) scores what
production answered with (prompt vN, X). Golden questions are matched to
interactions by the keyed hash of the normalized raw question (feedback stores
only redacted text, so the hash is the one exact key). Only interactions whose
consent allows quality improvement (of people who did not withdraw it) are
used, and the latest answer wins. The
latency is the one production measured.

Evaluation knows backends only through `evaluation.backends.register_provider`;
the feedback app registers this one when it loads (`FeedbackConfig.ready`),
because production's answers are feedback data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings

from evaluation.backends.base import Generation
from evaluation.exceptions import BackendConfigurationError
from feedback.consent import consented_interactions
from feedback.erasure import ERASED
from feedback.models import Interaction
from feedback.redaction import question_hash
from registry.models import ModelVersion, PromptVersion

__all__ = ["ReplayBackend", "replayed_model"]


def replayed_model(model_version: ModelVersion) -> ModelVersion:
    """The model version a replay model version replays; configuration error if
    its `model_identifier` names none."""
    found = ModelVersion.objects.filter(name=model_version.model_identifier).first()
    if found is None or found.provider == ModelVersion.Provider.REPLAY:
        raise BackendConfigurationError(
            f"Replay model version {model_version.name!r} must name a non-replay "
            f"model version in model_identifier, not "
            f"{model_version.model_identifier!r}.",
            field="model_version",
        )
    return found


class ReplayBackend:
    """Answer with production's SQL for the same question and pair."""

    def __init__(
        self, *, prompt_version: PromptVersion, model_version: ModelVersion
    ) -> None:
        """Bind the pair whose interactions are replayed (see `replayed_model`)."""
        self.prompt_version = prompt_version
        self.model_version = replayed_model(model_version)

    def generate(
        self,
        question: str,
        *,
        database: str,
        schema: Mapping[str, Sequence[str]],
        dialect: str = "sqlite",
    ) -> Generation:
        """Production's latest SQL for `question`, or a `no_interaction` error."""
        digest = question_hash(question, key=settings.PSEUDONYM_KEY.encode())
        found = (
            consented_interactions(Interaction.objects.all())
            .filter(
                question_hash=digest,
                prompt_version=self.prompt_version,
                model_version=self.model_version,
                consent_scope__in=[
                    Interaction.ConsentScope.IMPROVEMENT,
                    Interaction.ConsentScope.TRAINING,
                ],
            )
            .exclude(generated_sql__in=["", ERASED])
            .order_by("-occurred_at")
            .values_list("generated_sql", "server_latency_ms")
            .first()
        )
        if found is None:
            return Generation(
                "",
                0.0,
                1,
                "production has not answered this question with this pair "
                "(with consent to use it for evaluation)",
                "no_interaction",
            )
        sql, latency = found
        return Generation(sql, float(latency or 0.0))
