from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from governance.demo import ASSISTANT_CLIENT, DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Migrate, seed the demo registry and print where to look."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the app runs."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        report = seed_demo()
        base = options["base_url"].rstrip("/")
        write = self.stdout.write
        write(self.style.SUCCESS("Loopgate demo ready."))
        for line in report.created:
            write(f"  created  {line}")
        for line in report.reused:
            write(f"  reused   {line}")
        write("")
        write(f"Admin:     {base}/admin/  (run: make run)")
        write(f"API docs:  {base}/api/docs/")
        write("Users:     " + ", ".join(DEMO_USERS) + f"  (password: {DEMO_PASSWORD})")
        write(f"API key for {ASSISTANT_CLIENT} (shown once): {report.api_key}")
        write(
            f"Try:       curl -H 'Authorization: Bearer {report.api_key}' "
            f"'{base}/api/v1/registry/resolve/?template=concert-analytics"
            "&session_id=s-1'"
        )
