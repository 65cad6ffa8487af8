from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback"

    def ready(self) -> None:
        # Evaluation runs can replay what production answered: that data is
        # feedback's, so feedback supplies the backend (evaluation sits below).
        from evaluation.backends import register_provider
        from feedback.replay import ReplayBackend, replayed_model
        from registry.models import ModelVersion

        register_provider(
            ModelVersion.Provider.REPLAY, build=ReplayBackend, check=replayed_model
        )
