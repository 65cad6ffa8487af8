from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.exceptions import DomainError
from governance.holdout import establish_holdout
from registry.models import Label, PromptTemplate


class Command(BaseCommand):
    help = (
        "Establish the holdout (frozen baseline at the production pair, policy "
        "share) of every template that has production and no holdout, or of one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--template", help="Template name; default: all.")

    def handle(self, *args: Any, **options: Any) -> None:
        templates = PromptTemplate.objects.filter(
            labels__name=Label.Name.PRODUCTION
        ).exclude(labels__name=Label.Name.HOLDOUT)
        if options["template"]:
            if not PromptTemplate.objects.filter(name=options["template"]).exists():
                raise CommandError(f"No template named {options['template']!r}.")
            templates = templates.filter(name=options["template"])
        done = 0
        for template in templates.order_by("name"):
            try:
                label = establish_holdout(template=template, acting_user=None)
            except DomainError as exc:
                self.stderr.write(f"{template.name}: {exc.message}")
                continue
            done += 1
            self.stdout.write(
                f"{template.name}: holdout at prompt v{label.prompt_version.number}, "
                f"{label.traffic_share:.2%} of sessions"
            )
        self.stdout.write(f"{done} holdout(s) established.")
