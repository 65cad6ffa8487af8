from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Release notes, dataset snapshots and cycles copy people's text; an
        # erasure (feedback, a lower app) reaches them through this hook.
        from feedback.erasure import register_eraser
        from governance.cycle.erasure import erase_cycle_copies
        from governance.releases import erase_release_notes

        register_eraser(
            erase_release_notes, append_only_tables=("governance_releasenote",)
        )
        register_eraser(erase_cycle_copies)
