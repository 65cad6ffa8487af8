from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import issue_api_token
from config.exceptions import DomainError
from config.output import plain


class Command(BaseCommand):
    help = (
        "Issue an API token for a service account and print its key once "
        "(people mint their own keys in the admin)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The client account the token acts as.")
        parser.add_argument("--name", required=True, help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        try:
            token, key = issue_api_token(
                user=user, name=options["name"], acting_user=None
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Issued token {token.pk} ({token.prefix}…) for {user}.", style_func=plain
        )
        self.stdout.write(key)
