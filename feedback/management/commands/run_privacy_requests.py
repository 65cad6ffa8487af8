"""Carry out pending (or failed) erasures and the retention run, as the owner.

Run it with the table owner's DATABASE_URL (as migrations are run): the
erasure lifts append-only triggers, which only the owner may do. The privacy
worker does the same on its queue; this command is for running or retrying
by hand.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from feedback import privacy
from feedback.models import PrivacyRequest


class Command(BaseCommand):
    help = "Run pending or failed erasures, then erase text past the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-retention", action="store_true", help="Erasures only."
        )

    def handle(self, **options: Any) -> None:
        waiting = PrivacyRequest.objects.filter(
            kind=PrivacyRequest.Kind.ERASURE,
            status__in=[PrivacyRequest.Status.PENDING, PrivacyRequest.Status.FAILED],
        ).order_by("pk")
        failed = 0
        for request in waiting:
            try:
                done = privacy.run_erasure(request_id=request.pk)
            except DatabaseError as exc:
                failed += 1
                self.stderr.write(f"erasure #{request.pk} failed: {exc}")
                continue
            self.stdout.write(f"erasure #{done.pk}: {privacy.summary(done.result)}")
        if not options["no_retention"]:
            runs = privacy.enforce_retention()
            erased = sum(
                len(r.result.get("feedback_interaction", {}).get("ids", []))
                for r in runs
            )
            self.stdout.write(
                f"retention: {len(runs)} run(s), {erased} interaction(s) erased"
            )
        if failed:
            self.stderr.write(
                f"{failed} erasure(s) failed: run this as the table owner."
            )
