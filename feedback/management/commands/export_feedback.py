"""Write the wide feedback export for a window (default: yesterday, UTC)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from feedback.export import export_window, previous_day


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not an ISO 8601 date or time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Export interactions with their feedback as CSV + JSON Lines + manifest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", help="Window start (ISO 8601, UTC if naive).")
        parser.add_argument("--end", help="Window end, exclusive.")
        parser.add_argument("--out", help="Folder (default: DATA_DIR/exports).")

    def handle(self, **options: Any) -> None:
        window = previous_day()
        if options["start"] or options["end"]:
            if not (options["start"] and options["end"]):
                raise CommandError("Give both --start and --end, or neither.")
            start, end = _moment(options["start"]), _moment(options["end"])
            window = {"start": start, "end": end}
        if window["end"] <= window["start"]:
            raise CommandError("--end must be after --start.")
        out = Path(options["out"]) if options["out"] else None
        manifest = export_window(**window, directory=out)
        self.stdout.write(json.dumps(manifest, indent=2, sort_keys=True))
