"""Classify corrections the current error-taxonomy rules have not classified."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.error_taxonomy import CLASSIFIER_VERSION
from feedback.error_classes import reclassify_review_items
from registry.models import PromptTemplate


class Command(BaseCommand):
    help = (
        "Classify review items with the current error-taxonomy rules; items made "
        "by older rules are re-classified on record (taxonomy drift)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--template", help="Only this template's corrections.")

    def handle(self, **options: Any) -> None:
        template = None
        if options["template"]:
            template = PromptTemplate.objects.filter(name=options["template"]).first()
            if template is None:
                raise CommandError(f"No template {options['template']!r}.")
        changed = reclassify_review_items(acting_user=None, template=template)
        self.stdout.write(
            f"{changed} correction(s) classified by {CLASSIFIER_VERSION}."
        )
