import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from targets.provisioning import (
    ProvisionedRole,
    ProvisioningError,
    provision_select_only_role,
)
from targets.provisioning_mariadb import provision_mariadb_select_only
from targets.schema import DSN_VARIABLE_PREFIX


class Command(BaseCommand):
    help = (
        "Create (or tighten) the SELECT-only login role a PostgreSQL or MariaDB "
        "target database is queried as, and print the DSN for its "
        "LOOPGATE_TARGET_* environment variable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "role", nargs="?", help="Role name (lowercase, digits, '_')."
        )
        parser.add_argument("--role", dest="role_option", help="Same as ROLE.")
        parser.add_argument(
            "--engine",
            choices=["postgresql", "mariadb"],
            default="postgresql",
            help="postgresql (default): the admin DSN is a libpq DSN or "
            "postgres:// URL; mariadb: a mysql://user:password@host:port/database "
            "URL of an account that may create users and grant SELECT.",
        )
        parser.add_argument(
            "--admin-dsn-env",
            required=True,
            help="Environment variable holding the target database owner's DSN "
            "(not an argument: argv is visible to other users).",
        )
        parser.add_argument(
            "--password-env",
            help="Environment variable holding the role's password "
            "(default: generate one and print it in the DSN once).",
        )
        parser.add_argument("--schema", default="public", help="PostgreSQL only.")

    def handle(self, *args: Any, **options: Any) -> None:
        admin_dsn = os.environ.get(options["admin_dsn_env"], "")
        if not admin_dsn:
            raise CommandError(f"{options['admin_dsn_env']} is not set.")
        password = secrets.token_urlsafe(24)
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"{options['password_env']} is not set.")
        role = options["role"] or options["role_option"]
        if not role or (options["role_option"] or role) != role:
            raise CommandError("Give the role once: ROLE or --role.")
        result: ProvisionedRole
        try:
            if options["engine"] == "mariadb":
                result = provision_mariadb_select_only(
                    admin_dsn=admin_dsn, role=role, password=password
                )
            else:
                result = provision_select_only_role(
                    admin_dsn=admin_dsn,
                    role=role,
                    password=password,
                    schema=options["schema"],
                )
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from None
        verb = "Created" if result.created else "Updated"
        for statement in result.statements:
            self.stderr.write(f"  {statement}")
        self.stderr.write(
            f"{verb} role {result.role}; it passed the sandbox's SELECT-only check. "
            f"Store the DSN below in an environment variable named "
            f"{DSN_VARIABLE_PREFIX}<NAME> and register the target with that name "
            "as its location."
        )
        self.stdout.write(result.dsn)
