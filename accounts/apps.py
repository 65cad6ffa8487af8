from typing import Any

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API access"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.db.models.signals import m2m_changed, post_save

        # A role added or removed, or an account disabled, takes effect on the
        # next request in this process (accounts.authentication caches keys).
        m2m_changed.connect(
            _roles_changed, sender=User.groups.through, dispatch_uid="key-roles"
        )
        post_save.connect(_account_saved, sender=User, dispatch_uid="key-account")


def _roles_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    from django.contrib.auth.models import User

    from accounts.services import forget_cached_keys

    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if isinstance(instance, User):
        forget_cached_keys(instance.pk)
    else:  # group.user_set changed: the users are named by pk
        for user_id in kwargs.get("pk_set") or ():
            forget_cached_keys(user_id)


def _account_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from accounts.services import forget_cached_keys

    if not created:
        forget_cached_keys(instance.pk)
