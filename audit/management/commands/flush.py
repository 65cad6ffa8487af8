from typing import Any

from django.core.management.commands.flush import Command as FlushCommand

from audit.appendonly import suspended_guards


class Command(FlushCommand):
    """Django's flush, with the append-only guards lifted for its transaction only.

    Test teardown of transactional tests flushes every table; without this the
    append-only triggers would refuse it.
    """

    help = FlushCommand.help

    def handle(self, **options: Any) -> None:
        with suspended_guards(using=options["database"]):
            super().handle(**options)
