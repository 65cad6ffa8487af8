"""Import interaction/feedback events from a JSON Lines file through ingestion.

Same path as the API: validation, redaction and pseudonymization before the
first write, idempotent by event id (re-importing a file stores nothing new).
"""

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.json_input import loads_bounded
from feedback.ingestion import MAX_BATCH, ingest_events


class Command(BaseCommand):
    help = "Import events (one JSON object with a 'kind' per line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        totals: Counter[str] = Counter()
        batch: list[Any] = []
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(loads_bounded(line))
                except ValueError as exc:
                    # Not UTF-8, not JSON, or nested too deep. The line may hold
                    # PII: report its number and the class of problem, never its text.
                    self.stderr.write(
                        f"line {number}: not valid JSON ({type(exc).__name__}), skipped"
                    )
                    totals["invalid"] += 1
                    continue
                if len(batch) == MAX_BATCH:
                    totals.update(self._send(batch))
                    batch = []
        if batch:
            totals.update(self._send(batch))
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in sorted(totals.items())))

    def _send(self, batch: list[Any]) -> Counter[str]:
        results = ingest_events(events=batch, acting_user=None, channel="import")
        for result in results:
            if result.errors:
                fields = ", ".join(sorted(result.errors))
                status = result.status
                self.stderr.write(f"event {result.event_id}: {status} ({fields})")
        return Counter(result.status for result in results)
