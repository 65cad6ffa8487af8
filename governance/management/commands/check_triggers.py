from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.triggers import check_triggers
from registry.models import PromptTemplate


class Command(BaseCommand):
    help = "Run the retraining-trigger checks now (all templates, or one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--template", help="Template name; default: all.")

    def handle(self, *args: Any, **options: Any) -> None:
        template = None
        if options["template"]:
            template = PromptTemplate.objects.filter(name=options["template"]).first()
            if template is None:
                raise CommandError(f"No template named {options['template']!r}.")
        fired = check_triggers(template=template)
        for event in fired:
            self.stdout.write(
                f"fired: {event.template.name} {event.kind} {event.evidence}"
            )
        self.stdout.write(f"{len(fired)} trigger(s) fired.")
