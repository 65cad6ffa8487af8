from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.exceptions import DomainError
from evaluation.dialects import SQLGLOT_VERSION
from evaluation.importing import (
    ImportItem,
    ImportReport,
    UnrunnableGoldsError,
    UnrunnableItem,
    import_golden_examples,
    read_jsonl_items,
    read_spider_items,
    spider_table_ids,
)


class Command(BaseCommand):
    help = (
        "Import golden examples idempotently from Spider files (dev.json or a "
        "query<TAB>db_id gold file, tables.json, a database folder) or from a "
        "JSON Lines file (question, sql, db[, domain, difficulty, tags, id])."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["spider", "jsonl"], required=True)
        parser.add_argument("--questions", type=Path, help="Spider dev.json-style.")
        parser.add_argument("--gold", type=Path, help="Spider query<TAB>db_id file.")
        parser.add_argument("--tables", type=Path, help="Spider tables.json.")
        parser.add_argument("--file", type=Path, help="JSON Lines file (jsonl).")
        parser.add_argument(
            "--db-dir",
            type=Path,
            help="Folder of <db>/<db>.sqlite (or <db>.sqlite) database files.",
        )
        parser.add_argument("--databases", help="Only these db ids (comma list).")
        parser.add_argument("--limit-per-db", type=int, help="First N items per db.")
        parser.add_argument("--snapshot", help="Freeze the imported set under NAME.")
        parser.add_argument(
            "--id-prefix", help="External id prefix (default from the file name)."
        )
        parser.add_argument("--owner", help="Username owning (and adding) the items.")
        parser.add_argument(
            "--from-dialect",
            help="The SQL dialect the file was written in (e.g. sqlite): items for "
            "a target of another dialect are transpiled with sqlglot.",
        )
        parser.add_argument(
            "--compare-with",
            help="A target of --from-dialect (e.g. the SQLite original): each "
            "transpiled item runs there too, and those whose result changes are "
            "listed with a reason.",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Store the items whose SQL runs on their target and list the "
            "others (default: any such failure stores nothing).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # call_command() passes keyword options unconverted: coerce here.
        for key in ("questions", "gold", "tables", "file", "db_dir"):
            if options[key] is not None:
                options[key] = Path(options[key])
        if options["limit_per_db"] is not None and options["limit_per_db"] < 1:
            raise CommandError("--limit-per-db must be at least 1.")
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"No user named {options['owner']!r}.")
        databases = None
        if options["databases"]:
            databases = {d.strip() for d in options["databases"].split(",")} - {""}
        try:
            items, known = self._read(options)
            report = import_golden_examples(
                items=items,
                db_dir=options["db_dir"],
                acting_user=owner,
                owner=owner,
                known_databases=known,
                databases=databases,
                limit_per_db=options["limit_per_db"],
                snapshot_name=options["snapshot"],
                skip_invalid=options["skip_invalid"],
                from_dialect=options["from_dialect"],
                compare_with=options["compare_with"],
            )
        except UnrunnableGoldsError as exc:
            self._print_unrunnable(exc.unrunnable, self.stderr.write)
            raise CommandError(exc.message) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self._print(report, options["compare_with"])

    def _read(
        self, options: dict[str, Any]
    ) -> tuple[list[ImportItem], set[str] | None]:
        if options["format"] == "jsonl":
            if options["file"] is None:
                raise CommandError("--format jsonl needs --file.")
            if options["questions"] or options["gold"] or options["tables"]:
                raise CommandError("--questions/--gold/--tables are for spider.")
            return read_jsonl_items(
                options["file"], id_prefix=options["id_prefix"]
            ), None
        if options["tables"] is None or options["db_dir"] is None:
            raise CommandError("--format spider needs --tables and --db-dir.")
        if options["file"] is not None:
            raise CommandError("--file is for --format jsonl.")
        if not options["db_dir"].is_dir():
            raise CommandError(f"Database folder not found: {options['db_dir']}")
        items = read_spider_items(
            questions=options["questions"],
            gold=options["gold"],
            id_prefix=options["id_prefix"],
        )
        return items, spider_table_ids(options["tables"])

    def _print(self, report: ImportReport, compared_with: str | None) -> None:
        def names(values: list[str]) -> str:
            return f" ({', '.join(values)})" if values else ""

        self.stdout.write(
            f"Target databases: created {len(report.targets_created)}"
            f"{names(report.targets_created)}; reused {len(report.targets_reused)}"
            f"{names(report.targets_reused)}"
        )
        self.stdout.write(
            f"Golden examples: created {report.created}, reused {report.reused}, "
            f"skipped {report.skipped_total}"
        )
        for reason, by_db in sorted(report.skipped.items()):
            for db, count in sorted(by_db.items()):
                self.stdout.write(f"  skipped {db}: {count} ({reason})")
        if report.transpiled:
            self.stdout.write(
                f"Transpiled with sqlglot {SQLGLOT_VERSION}: {report.transpiled} "
                "(the SQL as written is kept)"
            )
        if report.unrunnable:
            self.stdout.write(
                "Not stored, SQL cannot be transpiled or does not run on the "
                f"target: {len(report.unrunnable)}"
            )
            self._print_unrunnable(report.unrunnable, self.stdout.write)
        if compared_with:
            self.stdout.write(
                f"Results that change from {compared_with} to the targets: "
                f"{len(report.differences)}"
            )
            for diff in report.differences:
                self.stdout.write(
                    f"  line {diff.line} ({diff.db}, {diff.external_id}): "
                    f"{diff.reason}: {diff.evidence}"
                )
        if report.snapshot is not None:
            state = "created" if report.snapshot_created else "reused, same content"
            self.stdout.write(
                f"Snapshot {report.snapshot.name!r} {report.snapshot.content_hash[:12]}"
                f": {report.snapshot.example_count} examples ({state})"
            )
            if report.left_out_retired:
                self.stdout.write(
                    f"  left out {report.left_out_retired} retired examples"
                )
        if report.counts is not None:
            counts = report.counts
            self.stdout.write(
                f"Golden set: {counts.active} active, {counts.retired} retired, "
                f"{counts.stale} stale (older than {counts.stale_days} days)"
            )

    @staticmethod
    def _print_unrunnable(
        items: list[UnrunnableItem], write: Callable[[str], None]
    ) -> None:
        for item in items:
            # Engine messages may span lines (PostgreSQL's LINE/caret hint).
            message = item.message.replace("\n", "\n    ")
            write(f"  line {item.line} ({item.db}, {item.external_id}): {message}")
