from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_EVENTS = ["feedback.view_interaction", "feedback.view_feedback"]
INGEST = ["feedback.add_interaction", "feedback.add_feedback"]
VIEW_QUEUE = ["feedback.view_reviewitem"]

ROLE_PERMISSIONS = {
    # The assistant's client account has the analyst role (see governance.demo).
    "analyst": INGEST,
    "senior_analyst": [
        *INGEST,
        *VIEW_EVENTS,
        *VIEW_QUEUE,
        "feedback.review_reviewitem",
    ],
    "ml_lead": [*VIEW_EVENTS, *VIEW_QUEUE],
    "ai_safety": [*VIEW_EVENTS, *VIEW_QUEUE],
    "auditor": [*VIEW_EVENTS, *VIEW_QUEUE],
}


def grant_roles(apps, schema_editor):
    # Permissions are normally created after migrate; roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(
            app_config, apply_migrations=False, verbosity=0, apps=apps
        )
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(
                Permission.objects.get(
                    content_type__app_label=app_label, codename=codename
                )
            )


def revoke_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("governance", "0002_roles"),
        ("feedback", "0002_append_only_triggers"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
