import hashlib
import secrets
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import TokenError
from accounts.models import ApiToken
from accounts.roles import APPROVAL_ROLES, SERVICE_ACCOUNT
from audit.services import record_event

TOKEN_PREFIX = "lg_"  # noqa: S105 (makes leaked keys easy to scan for)


def key_cache() -> Any:
    """Per-process memory of keys that passed every check, with their permissions.

    An ingestion request would otherwise spend most of its queries on the key,
    the account's roles and its permissions. Entries live API_KEY_CACHE_SECONDS:
    a revocation takes effect at once in the process that made it (it drops the
    entry) and within that many seconds everywhere else, as does a role change.
    """
    return caches["api_keys"]


def digest_key(key: str) -> str:
    """Keys are 256-bit random strings, so a plain SHA-256 digest is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


def is_service_account(user: User) -> bool:
    """Whether ``user`` is a client account (role ``service_account``)."""
    return user.groups.filter(name=SERVICE_ACCOUNT).exists()


def approval_roles_of(user: User) -> set[str]:
    """The roles ``user`` holds that approve something (reviews, promotions)."""
    return set(user.groups.values_list("name", flat=True)) & APPROVAL_ROLES


def minting_problem(*, user: User, acting_user: User | None) -> str | None:
    """Why ``acting_user`` may not mint a key for ``user``, or None when they may.

    A key acts for its account, so nobody obtains a working key for another
    person: people mint their own. Service accounts get keys from an
    administrator (or the command line, ``acting_user`` None) and may never hold
    an approval role, so no key ever approves for someone who did not mint it.
    """
    if is_service_account(user):
        held = approval_roles_of(user)
        if held:
            return (
                f"{user.get_username()} is a service account holding approval "
                f"roles ({', '.join(sorted(held))}); remove them first."
            )
        if acting_user is not None and not (
            acting_user.is_superuser or acting_user.has_perm("accounts.add_apitoken")
        ):
            return "Only an administrator mints keys for service accounts."
        return None
    if acting_user is None or acting_user.pk != user.pk:
        return (
            f"A key acts for {user.get_username()}: only they can mint it "
            "(or make the account a service account)."
        )
    return None


@transaction.atomic
def issue_api_token(
    *, user: User, name: str, acting_user: User | None
) -> tuple[ApiToken, str]:
    """Create a token for `user`'s client and return it with its key.

    Refused unless `minting_problem` allows it. The key is returned once and
    never stored; records `accounts.token.issued` with who minted it for whom.
    """
    if not name.strip():
        raise TokenError("A token needs a name.", field="name")
    problem = minting_problem(user=user, acting_user=acting_user)
    if problem is not None:
        raise TokenError(problem, field="user")
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
        data={
            "user": user.get_username(),
            "name": token.name,
            "minted_by": acting_user.get_username() if acting_user else "command",
            "service_account": is_service_account(user),
        },
    )
    return token, key


@transaction.atomic
def forget_cached_keys(user_id: int) -> None:
    """Drop this process's cached keys of a user whose roles or status changed.

    Other processes keep theirs for at most API_KEY_CACHE_SECONDS; approvals check
    the service-account role afresh (governance.approvals), never from the cache.
    """
    digests = ApiToken.objects.filter(user_id=user_id).values_list(
        "key_digest", flat=True
    )
    key_cache().delete_many(list(digests))


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
    # Dropped now and again after commit: a request racing the revocation in
    # this process may have cached the key in between.
    key_cache().delete(token.key_digest)
    digest = token.key_digest
    transaction.on_commit(lambda: key_cache().delete(digest))
    record_event(
        event_type="accounts.token.revoked",
        actor=acting_user,
        subject=token,
        reason=reason,
    )
    return token
