from django.apps import AppConfig


class RunsConfig(AppConfig):
    """Evaluation runs: jobs, comparisons and alerts.

    An app of its own so its admin, tasks and commands are discovered where they
    live; its models (runs, results, chunks, alerts) belong to `evaluation`.
    """

    name = "evaluation.runs"
    label = "evaluation_runs"
    verbose_name = "Evaluation runs"
