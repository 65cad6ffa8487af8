"""Score a predictions file: files in, a report out, no model or app touched.

Nothing here needs the app registry, so `manage.py` runs this command without
loading the apps (`run_without_setup`): start-up was most of a scoring run.
"""

from argparse import ArgumentTypeError
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.prediction_files import (
    Limits,
    PredictionFileError,
    default_jobs,
    score_prediction_file,
)
from evaluation.prediction_reports import format_report, write_csv
from evaluation.scoring import MODES, SUITE_MODE


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise ArgumentTypeError(f"not a whole number: {value!r}") from None
    if jobs < 1:
        raise ArgumentTypeError(f"must be at least 1, got {jobs}")
    return jobs


class Command(BaseCommand):
    help = (
        "Score a Spider-format predictions file (one SQL per line) against a gold "
        "file (query<TAB>db_id per line): EX and EM overall and by hardness."
    )
    # No model, URL or app is used: the system checks would only cost start-up.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("gold", type=Path, help="Gold file: query<TAB>db_id.")
        parser.add_argument("pred", type=Path, help="Predictions: one SQL a line.")
        parser.add_argument(
            "--db-dir",
            type=Path,
            required=True,
            help="Folder holding <db_id>/<db_id>.sqlite.",
        )
        parser.add_argument(
            "--mode",
            default="spider",
            help="EX rules: spider (test-suite, default), bird, strict, or suite "
            "(spider rules on each database and 5 generated neighbours).",
        )
        parser.add_argument(
            "--tables",
            type=Path,
            help="Spider tables.json; lets EM qualify columns with the schema.",
        )
        parser.add_argument("--csv", type=Path, help="Write per-item results here.")
        parser.add_argument(
            "--jobs",
            type=_jobs,
            default=None,
            help="Processes that score (default: the cores available, here "
            f"{default_jobs()}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # call_command() passes keyword options unconverted: coerce here.
        # gold, pred and --db-dir are required by the parser, so never None.
        required = {key: Path(options[key]) for key in ("gold", "pred", "db_dir")}
        paths = {
            key: None if options[key] is None else Path(options[key])
            for key in ("tables", "csv")
        }
        if options["mode"] not in (*MODES, SUITE_MODE):
            choices = ", ".join((*MODES, SUITE_MODE))
            raise CommandError(
                f"Unknown mode {options['mode']!r}; expected one of {choices}."
            )
        jobs = default_jobs() if options["jobs"] is None else options["jobs"]
        limits = Limits(
            timeout_s=settings.SANDBOX_TIMEOUT_MS / 1000.0,
            max_rows=settings.SANDBOX_MAX_ROWS,
            max_bytes=settings.SANDBOX_MAX_RESULT_BYTES,
        )
        try:
            if options["mode"] == SUITE_MODE:
                # Only suite mode needs the neighbour databases' machinery.
                from evaluation.suite_files import score_suite_file

                report = score_suite_file(
                    gold_path=required["gold"],
                    pred_path=required["pred"],
                    db_dir=required["db_dir"],
                    neighbours_dir=Path(settings.DATA_DIR) / "neighbours",
                    tables_path=paths["tables"],
                    limits=limits,
                    jobs=jobs,
                )
            else:
                report = score_prediction_file(
                    gold_path=required["gold"],
                    pred_path=required["pred"],
                    db_dir=required["db_dir"],
                    mode=options["mode"],
                    tables_path=paths["tables"],
                    jobs=jobs,
                    limits=limits,
                )
        except PredictionFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(format_report(report))
        if options["mode"] == SUITE_MODE:
            from evaluation.suite_files import flipped_count

            self.stdout.write(
                f"Suite: {flipped_count(report)} single-database matches failed "
                "on a neighbour database and count as wrong."
            )
        out_path = paths["csv"]
        if out_path is not None:
            try:
                with out_path.open("w", newline="", encoding="utf-8") as out:
                    write_csv(report, out)
            except OSError as exc:
                raise CommandError(f"Cannot write {out_path}: {exc}") from None
            self.stdout.write(f"Per-item results: {out_path}")


def run_without_setup(argv: list[str]) -> None:
    """Run the command from `manage.py` argv without `django.setup()`.

    Settings are still read (the sandbox limits); the app registry, admin, DRF and
    the model backends are never imported.
    """
    Command().run_from_argv(argv)
