import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.engine_neighbours import build_engine_neighbours
from evaluation.neighbours import NEIGHBOURS
from targets.models import TargetDatabase
from targets.schema import SchemaCaptureError


class Command(BaseCommand):
    help = (
        "Build the test-suite neighbour databases of a PostgreSQL, MariaDB or "
        "DuckDB target next to it, as its owner, for suite-mode runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="Target database name.")
        parser.add_argument("--count", type=int, default=NEIGHBOURS)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--admin-dsn-env",
            default="",
            help="Variable holding the DSN of the target database's owner "
            "(PostgreSQL, MariaDB; not an argument: argv is visible to others).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = TargetDatabase.objects.filter(name=options["target"]).first()
        if target is None:
            raise CommandError(f"No target database named {options['target']!r}.")
        if not 1 <= options["count"] <= 100:
            raise CommandError("--count is between 1 and 100.")
        owner = ""
        if options["admin_dsn_env"]:
            owner = os.environ.get(options["admin_dsn_env"], "")
            if not owner:
                raise CommandError(f"{options['admin_dsn_env']} is not set.")
        try:
            built = build_engine_neighbours(
                target=target,
                owner_dsn=owner,
                count=options["count"],
                seed=options["seed"],
            )
        except (ValueError, SchemaCaptureError) as exc:
            raise CommandError(str(exc)) from None
        verb = "Built" if built.rebuilt else "Up to date:"
        self.stdout.write(
            f"{verb} {len(built.locations)} neighbours of {target.name} "
            f"({target.engine}): {', '.join(built.locations)}; manifest "
            f"{built.manifest}"
        )
        if built.removed:
            self.stdout.write(
                f"Removed {len(built.removed)} no longer listed: "
                f"{', '.join(built.removed)}"
            )
