from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.prediction_files import (
    PredictionFileError,
    format_report,
    score_prediction_file,
    write_csv,
)
from evaluation.scoring import MODES
from evaluation.suite import SUITE_MODE
from evaluation.suite_files import flipped_count, score_suite_file


class Command(BaseCommand):
    help = (
        "Score a Spider-format predictions file (one SQL per line) against a gold "
        "file (query<TAB>db_id per line): EX and EM overall and by hardness."
    )

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
        try:
            if options["mode"] == SUITE_MODE:
                report = score_suite_file(
                    gold_path=required["gold"],
                    pred_path=required["pred"],
                    db_dir=required["db_dir"],
                    neighbours_dir=Path(settings.DATA_DIR) / "neighbours",
                    tables_path=paths["tables"],
                )
            else:
                report = score_prediction_file(
                    gold_path=required["gold"],
                    pred_path=required["pred"],
                    db_dir=required["db_dir"],
                    mode=options["mode"],
                    tables_path=paths["tables"],
                )
        except PredictionFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(format_report(report))
        if options["mode"] == SUITE_MODE:
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
