import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.chain import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the decision log's hash chain; with --head, also against a head "
        "digest exported earlier by export_log_head. Exits non-zero on any problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--head", type=Path, help="JSON file written by export_log_head."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        head = None
        if options["head"] is not None:
            try:
                head = json.loads(options["head"].read_text())
                int(head["sequence"]), str(head["entry_hash"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"Unreadable head file: {exc}") from None
        result = verify_chain(expected_head=head)
        for line in result.verified:
            self.stdout.write(f"verified: {line}")
        for line in result.limits:
            self.stdout.write(f"not covered: {line}")
        if not result.ok:
            for line in result.problems:
                self.stderr.write(f"PROBLEM: {line}")
            raise CommandError(f"Decision log FAILED ({len(result.problems)} problems)")
        self.stdout.write(self.style.SUCCESS("Decision log OK"))
