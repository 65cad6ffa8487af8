from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.services import (
    digest_key,
    is_service_account,
    key_cache,
    minting_problem,
)


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
        digest = digest_key(key)
        cached: tuple[Any, ApiToken] | None = key_cache().get(digest)
        if cached is not None:
            return cached
        identity = self._check(digest)
        key_cache().set(digest, identity, settings.API_KEY_CACHE_SECONDS)
        return identity

    def _check(self, digest: str) -> tuple[Any, ApiToken]:
        token = (
            ApiToken.objects.select_related("user").filter(key_digest=digest).first()
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
        # Loaded now so that the cached user answers permission checks from memory.
        token.user.get_all_permissions()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
