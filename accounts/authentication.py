from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.services import digest_key, is_service_account, minting_problem


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` for API clients; revoked keys are refused."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed API key.") from None
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_digest=digest_key(key))
            .first()
        )
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The client account is disabled.")
        # Rules at mint time can be sidestepped later (roles change, keys minted
        # before the rule): a key works only while its minting would be allowed.
        minter = token.user if token.created_by_id == token.user_id else None
        if not is_service_account(token.user) and minter is None:
            raise exceptions.AuthenticationFailed(
                "This key was minted by someone else for a person; revoke it."
            )
        if minting_problem(user=token.user, acting_user=minter) is not None:
            raise exceptions.AuthenticationFailed(
                "This key's account may not hold it (service account with "
                "approval roles); revoke it."
            )
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
