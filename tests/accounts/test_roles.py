"""The roles table in accounts.roles is what migrations actually grant."""

from django.contrib.auth.models import Group

from accounts.roles import ROLE_PERMISSIONS, ROLES, sync_roles


def granted() -> dict[str, set[str]]:
    return {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.filter(name__in=ROLES)
    }


def test_migrations_grant_exactly_the_roles_table(db: None) -> None:
    assert granted() == {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()}


def test_sync_restores_a_role_after_a_flush_and_is_idempotent(db: None) -> None:
    Group.objects.filter(name="auditor").delete()
    Group.objects.get(name="ml_lead").permissions.clear()
    sync_roles()
    sync_roles()
    assert granted() == {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()}
