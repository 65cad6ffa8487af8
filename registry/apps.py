from typing import Any

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from registry.models import ModelVersion, PromptTemplate, PromptVersion

        for model in (PromptTemplate, PromptVersion, ModelVersion):
            for signal in (post_save, post_delete):
                signal.connect(
                    _registry_changed, sender=model, dispatch_uid=f"known-{model}"
                )


def _registry_changed(**kwargs: Any) -> None:
    # A renamed template, or a test database reusing ids: forget what was seen.
    from registry.selectors import forget_known_versions

    forget_known_versions()
