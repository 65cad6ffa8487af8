import os
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.exceptions import DomainError
from targets.loading import LOADABLE, load_target_database


class Command(BaseCommand):
    help = (
        "Copy a SQLite database into PostgreSQL, MariaDB or a DuckDB file "
        "(schema, keys, data), provision its SELECT-only reader and register it "
        "as a target database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", type=Path, required=True)
        parser.add_argument("--engine", choices=LOADABLE, required=True)
        parser.add_argument("--name", required=True, help="Target database name.")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument(
            "--admin-dsn-env",
            help="Variable holding the DSN of the target database's owner "
            "(PostgreSQL, MariaDB; not an argument: argv is visible to others).",
        )
        where.add_argument("--path", type=Path, help="DuckDB file to write.")
        parser.add_argument(
            "--dsn-env",
            default="",
            help="Variable the target reads its SELECT-only DSN from. If it is set, "
            "its user and password are provisioned; else role lg_ro_<name> gets "
            "a new password and the DSN is printed once.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Drop and reload tables the target already holds.",
        )
        parser.add_argument("--actor", help="Username recorded as the actor.")

    def handle(self, *args: Any, **options: Any) -> None:
        engine = options["engine"]
        if (engine == "duckdb") != (options["path"] is not None):
            raise CommandError("DuckDB takes --path; PostgreSQL and MariaDB take "
                               "--admin-dsn-env and --dsn-env.")  # fmt: skip
        admin_dsn = ""
        if options["admin_dsn_env"]:
            admin_dsn = os.environ.get(options["admin_dsn_env"], "")
            if not admin_dsn:
                raise CommandError(f"{options['admin_dsn_env']} is not set.")
            if not options["dsn_env"]:
                raise CommandError("--dsn-env is required for this engine.")
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['actor']!r}.")
        try:
            result = load_target_database(
                source=Path(options["source"]),
                engine=engine,
                name=options["name"],
                acting_user=actor,
                admin_dsn=admin_dsn,
                path=Path(options["path"]) if options["path"] else None,
                dsn_env=options["dsn_env"],
                reader_dsn=os.environ.get(options["dsn_env"], "")
                if options["dsn_env"]
                else "",
                replace=options["replace"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        plan, target = result.plan, result.target
        verb = "Registered" if result.created else "Updated"
        self.stdout.write(
            f"{verb} {target.name} ({target.engine}, {target.location}): "
            f"{len(plan.tables)} tables, {plan.row_count} rows"
        )
        for coercion in plan.coercions:
            self.stdout.write(
                f"  coerced {coercion.table}.{coercion.column}: {coercion.change} "
                f"({coercion.count} values, e.g. {coercion.example or '-'})"
            )
        for dropped in plan.dropped:
            self.stdout.write(f"  {dropped}")
        if result.reader_dsn:
            self.stderr.write(
                f"Role {result.reader_role} is SELECT-only; store the DSN below in "
                f"{options['dsn_env']} (shown once)."
            )
            self.stdout.write(result.reader_dsn)
