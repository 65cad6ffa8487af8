"""Draw the stratified audit sample of a window into the review queue."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.exceptions import DomainError
from feedback.audits import previous_day, sample_audit_items
from feedback.management.commands.export_feedback import _moment


class Command(BaseCommand):
    help = (
        "Sample uncorrected traffic of a window (default: yesterday, UTC) into the "
        "review queue as audit items, stratified by template, task type, tenant "
        "and outcome. Running it again for the same window adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", help="Window start (ISO 8601, UTC if naive).")
        parser.add_argument("--end", help="Window end, exclusive.")
        parser.add_argument(
            "--share", type=float, help="Default: AUDIT_SAMPLE_SHARE (0 to 1)."
        )

    def handle(self, **options: Any) -> None:
        start, end = previous_day()
        if options["start"] or options["end"]:
            if not (options["start"] and options["end"]):
                raise CommandError("Give both --start and --end, or neither.")
            start, end = _moment(options["start"]), _moment(options["end"])
        if end <= start:
            raise CommandError("--end must be after --start.")
        try:
            report = sample_audit_items(start=start, end=end, share=options["share"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(json.dumps(report, indent=2, default=str))
