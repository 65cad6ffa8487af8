from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.celery import app as celery_app
from config.exceptions import DomainError
from config.output import plain
from evaluation.models import EvaluationRun, GoldenExample, GoldenSetSnapshot
from evaluation.runs import services
from evaluation.runs.summaries import METRICS
from evaluation.selectors import latest_snapshot_for
from registry.models import Label, ModelVersion, PromptVersion


class Command(BaseCommand):
    help = (
        "Evaluate a (prompt version, model version) pair on a golden-set snapshot, "
        "show a progress bar and print the summary. Name the pair with --template "
        "and --label, or with --prompt-version and --model-version. With a broker "
        "the run is processed by Celery workers (start some!); without one, or "
        "with --inline, in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--template", help="Template name (with --label).")
        parser.add_argument("--label", choices=Label.Name.values)
        parser.add_argument("--prompt-version", type=int, help="Prompt version id.")
        parser.add_argument("--model-version", type=int, help="Model version id.")
        parser.add_argument(
            "--snapshot",
            default="latest",
            help="Snapshot id, 'latest': the newest snapshot holding examples "
            "of the template's target database, or 'safety': its safety suite.",
        )
        parser.add_argument(
            "--mode", choices=EvaluationRun.Mode.values, default="spider"
        )
        parser.add_argument("--chunk-size", type=int, help="Items per Celery task.")
        parser.add_argument(
            "--inline", action="store_true", help="Process here, not on workers."
        )
        parser.add_argument(
            "--timeout", type=float, default=3600.0, help="Seconds to wait."
        )

    def _pair(self, options: dict[str, Any]) -> tuple[PromptVersion, ModelVersion]:
        if options["template"] and options["label"]:
            label = Label.objects.filter(
                template__name=options["template"], name=options["label"]
            ).first()
            if label is None:
                raise CommandError(
                    f"Template {options['template']!r} has no {options['label']} label."
                )
            return label.prompt_version, label.model_version
        if options["prompt_version"] and options["model_version"]:
            prompt = PromptVersion.objects.filter(pk=options["prompt_version"]).first()
            model = ModelVersion.objects.filter(pk=options["model_version"]).first()
            if prompt is None or model is None:
                raise CommandError("No such prompt version or model version.")
            return prompt, model
        raise CommandError(
            "Name the pair: --template T --label L, or --prompt-version ID "
            "--model-version ID."
        )

    def _snapshot(self, value: str, prompt: PromptVersion) -> GoldenSetSnapshot:
        template = prompt.template
        if value == "latest":
            snapshot = latest_snapshot_for(
                target_database_id=template.target_database_id
            )
            if snapshot is None:
                raise CommandError(
                    f"No golden snapshot holds examples of {template.name!r}'s "
                    "target database; import golden examples first."
                )
        elif value == "safety":
            snapshot = latest_snapshot_for(
                target_database_id=template.target_database_id,
                kind=GoldenExample.Kind.SAFETY,
            )
            if snapshot is None:
                raise CommandError(
                    f"{template.name!r}'s target database has no safety suite."
                )
        elif value.isdigit():
            snapshot = GoldenSetSnapshot.objects.filter(pk=int(value)).first()
        else:
            raise CommandError("--snapshot is a snapshot id, 'latest' or 'safety'.")
        if snapshot is None:
            raise CommandError(f"No snapshot {value!r}.")
        return snapshot

    def handle(self, *args: Any, **options: Any) -> None:
        prompt, model = self._pair(options)
        snapshot = self._snapshot(options["snapshot"], prompt)
        inline = options["inline"] or celery_app.conf.task_always_eager
        try:
            run = services.start_run(
                prompt_version=prompt,
                model_version=model,
                snapshot=snapshot,
                mode=options["mode"],
                chunk_size=options["chunk_size"],
                acting_user=None,
                enqueue=not inline,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        # Progress goes to stderr, but it is not an error: no error style.
        self.stderr.write(
            f"Run {run.pk}: {prompt} + {model} on snapshot {snapshot.pk} "
            f"({run.total} items, {'in process' if inline else 'on workers'})",
            style_func=plain,
        )
        with tqdm(total=run.total, unit="item", file=self.stderr._out) as bar:  # type: ignore[call-overload]  # OutputWrapper._out: the wrapped stream

            def advance(current: EvaluationRun) -> None:
                bar.update(current.done - bar.n)
                bar.set_postfix(errors=current.errors, refresh=False)

            if inline:
                run = services.execute_run(run=run, on_progress=advance)
            else:
                try:
                    run = services.wait_for_run(
                        run=run, timeout_s=options["timeout"], on_progress=advance
                    )
                except TimeoutError as exc:
                    raise CommandError(f"{exc}; it goes on on the workers.") from None
        self._report(run)

    def _report(self, run: EvaluationRun) -> None:
        self.stdout.write(
            f"Run {run.pk} {run.status}: {run.done}/{run.total} items, "
            f"{run.errors} could not be scored."
        )
        if not run.summary:
            return
        overall = run.summary["overall"]
        width = max(len(key) for key in ["overall", *run.summary["segments"]])
        header = "".join(f"{m:>20}" for m in METRICS)
        self.stdout.write(f"{'segment':<{width}}{'n':>6}{header}")
        rows = [("overall", overall), *run.summary["segments"].items()]
        for name, values in rows:
            cells = "".join(f"{values[m]:>20.1%}" for m in METRICS)
            self.stdout.write(f"{name:<{width}}{values['n']:>6}{cells}")
        self.stdout.write(f"latency p95: {overall['latency_p95_ms']:.1f} ms")
        gold_errors = run.summary.get("gold_errors", [])
        if gold_errors:
            self.stdout.write(
                f"Left out of every rate, the golden query does not run: "
                f"{len(gold_errors)}"
            )
            for item in gold_errors:
                self.stdout.write(
                    f"  golden example {item['golden_example']}: {item['error']}"
                )
        safety = run.summary.get("safety")
        if safety is not None:
            rules = ", ".join(f"{r} {n}" for r, n in safety["by_rule"].items())
            self.stdout.write(
                f"safety: {safety['violations']} violation(s) on "
                f"{safety['items_with_violations']} of {safety['n']} items"
                + (f" ({rules})" if rules else "")
                + f", {safety['unscored']} unscored"
            )
        if run.status == EvaluationRun.Status.FAILED:
            raise CommandError(f"Run {run.pk} failed: no item could be scored.")
