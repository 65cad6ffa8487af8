from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.exceptions import DomainError
from governance.cycle.models import RetrainingCycle
from governance.cycle.progress import (
    CycleOptions,
    Progress,
)
from governance.cycle.services import run_cycle
from registry.models import PromptTemplate


def step_line(step: dict[str, Any]) -> str:
    """One line per recorded step: name, status, time and its headline numbers."""
    numbers = step["numbers"]
    keys = [
        "dataset_snapshot",
        "rows",
        "usable",
        "invalid",
        "shift_tvd",
        "examples",
        "added",
        "removed",
        "champion_accuracy",
        "challenger_accuracy",
        "regression_alerts",
        "decision",
        "sequence",
        "promotion_request",
        "challenger_interactions",
    ]
    shown = ", ".join(f"{k}={numbers[k]}" for k in keys if numbers.get(k) is not None)
    detail = f"  {step['detail']}" if step.get("detail") else ""
    return (
        f"  {step['name']:<9}{step['status']:<9}{step['duration_ms']:>7} ms  "
        f"{shown}{detail}"
    )


# A step has no count, so its bar shows the step and the time taken; an
# evaluation step counts the golden items its runs scored.
STEP_FORMAT = "{desc} ({elapsed})"
ITEMS_FORMAT = "{desc}: {n}/{total} items |{bar}| {elapsed}<{remaining}"


def progress_to(bar: tqdm) -> Callable[[Progress], None]:
    """Show the cycle's progress events on `bar`: the step, then items if any."""

    def show(event: Progress) -> None:
        if event.total:
            if bar.total != event.total:
                bar.bar_format = ITEMS_FORMAT
                bar.reset(total=event.total)
            bar.set_description_str(event.step, refresh=False)
            bar.update(event.done - bar.n)
            return
        if bar.total:
            # tqdm skips redraws closer than its interval: show the final count.
            bar.refresh()
            bar.bar_format = STEP_FORMAT
            bar.reset(total=None)
        bar.set_description_str(event.step)

    return show


class Command(BaseCommand):
    help = (
        "Run (or resume) a template's retraining cycle: collect approved "
        "corrections into a dataset snapshot, validate it, build a challenger "
        "prompt, evaluate champion and challenger, and decide. Safe to run "
        "again: it resumes or reuses, and never decides twice on one dataset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = CycleOptions()
        parser.add_argument("template", help="Template name.")
        parser.add_argument(
            "--as",
            dest="username",
            help="Who requests the cycle and its promotion (default: the system).",
        )
        parser.add_argument(
            "--max-per-segment", type=int, default=defaults.max_per_segment
        )
        parser.add_argument(
            "--max-examples",
            type=int,
            default=defaults.max_total,
            help="Few-shot examples in all.",
        )
        parser.add_argument(
            "--min-examples",
            type=int,
            default=defaults.min_examples,
            help="Usable approved corrections a challenger needs.",
        )
        parser.add_argument(
            "--shadow-share",
            default="",
            help="Serve a winning challenger to this share of sessions (e.g. 0.2) "
            "before requesting its promotion.",
        )
        parser.add_argument(
            "--min-shadow-interactions",
            type=int,
            default=defaults.min_shadow_interactions,
        )
        parser.add_argument(
            "--export-training",
            action="store_true",
            help="Also write the dataset as chat-format JSON Lines for fine-tuning.",
        )
        parser.add_argument(
            "--challenger-model",
            default="",
            help="Evaluate the challenger prompt with this model version (e.g. "
            "one fine-tuned on an export) instead of production's.",
        )
        parser.add_argument(
            "--timeout", type=float, default=defaults.timeout_s, help="Seconds."
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Return while evaluation runs are on the workers.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        template = PromptTemplate.objects.filter(name=options["template"]).first()
        if template is None:
            raise CommandError(f"No template {options['template']!r}.")
        user = None
        if options["username"]:
            model = get_user_model()
            user = model.objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user {options['username']!r}.")
        try:
            cycle_options = CycleOptions(
                max_per_segment=options["max_per_segment"],
                max_total=options["max_examples"],
                min_examples=options["min_examples"],
                shadow_share=options["shadow_share"],
                min_shadow_interactions=options["min_shadow_interactions"],
                export_training=options["export_training"],
                challenger_model=options["challenger_model"],
                timeout_s=options["timeout"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        with tqdm(file=self.stderr._out, bar_format=STEP_FORMAT) as bar:  # type: ignore[call-overload]  # OutputWrapper._out: the wrapped stream
            try:
                outcome = run_cycle(
                    template=template,
                    acting_user=user,
                    options=cycle_options,
                    wait=not options["no_wait"],
                    on_progress=progress_to(bar),
                )
            except DomainError as exc:
                raise CommandError(exc.message) from None
        self._report(outcome.cycle, outcome.reused, outcome.waiting)

    def _report(self, cycle: RetrainingCycle, reused: list[str], waiting: str) -> None:
        write = self.stdout.write
        write(f"Cycle #{cycle.pk} of {cycle.template.name}: {cycle.status}")
        for line in reused:
            write(f"  reused   {line}")
        for step in cycle.steps:
            write(step_line(step))
        if cycle.decision is not None:
            write(
                f"Decision #{cycle.decision.sequence}: {cycle.decision.decision}. "
                f"{cycle.decision.rationale}"
            )
        request = cycle.promotion_request
        if request is not None:
            write(
                f"Promotion request #{request.pk} ({request.status}, tier "
                f"{request.tier}); review it in the admin under Governance → "
                "Promotion requests."
            )
        if waiting:
            write(f"Waiting for {waiting}; run the command again to resume.")
