import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.chain import export_head


class Command(BaseCommand):
    help = (
        "Print the decision log's head digest as JSON. Keep it outside the database "
        "(ticket, signed mail, WORM storage); verify_decision_log --head uses it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="Write to this file too.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(export_head(), sort_keys=True)
        if options["output"] is not None:
            options["output"].write_text(text + "\n")
        self.stdout.write(text)
