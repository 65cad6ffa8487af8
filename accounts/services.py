import hashlib
import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import TokenError
from accounts.models import ApiToken
from audit.services import record_event

TOKEN_PREFIX = "lg_"  # noqa: S105 (makes leaked keys easy to scan for)


def digest_key(key: str) -> str:
    """Keys are 256-bit random strings, so a plain SHA-256 digest is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def issue_api_token(
    *, user: User, name: str, acting_user: User | None
) -> tuple[ApiToken, str]:
    """Create a token for `user`'s client and return it with its key.

    The key is returned once and never stored; records `accounts.token.issued`.
    """
    if not name.strip():
        raise TokenError("A token needs a name.", field="name")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name.strip(),
        user=user,
        prefix=key[:10],
        key_digest=digest_key(key),
        created_by=acting_user,
    )
    record_event(
        event_type="accounts.token.issued",
        actor=acting_user,
        subject=token,
        data={"user": user.get_username(), "name": token.name},
    )
    return token, key


@transaction.atomic
def revoke_api_token(
    *, token: ApiToken, acting_user: User | None, reason: str = ""
) -> ApiToken:
    """Revoke a token; it stops authenticating at once. Revoking twice is refused."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise TokenError("This token is already revoked.")
    token.revoked_at = timezone.now()
    token.revoked_by = acting_user
    token.save(update_fields=["revoked_at", "revoked_by"])
    record_event(
        event_type="accounts.token.revoked",
        actor=acting_user,
        subject=token,
        reason=reason,
    )
    return token
