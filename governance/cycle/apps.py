from django.apps import AppConfig


class CycleConfig(AppConfig):
    """The retraining cycle: collect, validate, build, evaluate, decide, shadow.

    An app of its own so its admin, tasks, URLs and command are discovered where
    they live. Its models keep the `governance` app label: their tables,
    migrations and permission codenames were created there and stay there.
    """

    name = "governance.cycle"
    label = "governance_cycle"
    verbose_name = "Retraining cycle"

    def ready(self) -> None:
        from governance.cycle.lineage import cycle_lineage
        from governance.model_cards import register_lineage_provider

        register_lineage_provider(cycle_lineage)
