from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_QUALITY = [
    "feedback.view_guidelineversion",
    "feedback.view_reviewverdict",
    "feedback.view_calibrationitem",
]

ROLE_PERMISSIONS = {
    "senior_analyst": READ_QUALITY,
    "ml_lead": [
        *READ_QUALITY,
        "feedback.add_guidelineversion",
        "feedback.add_calibrationitem",
    ],
    "ai_safety": ["feedback.view_guidelineversion"],
    "auditor": [*READ_QUALITY, "feedback.view_privacyrequest"],
    # Runs consent revocations and erasures, and reads their audit trail.
    "privacy_officer": [
        "feedback.add_privacyrequest",
        "feedback.view_privacyrequest",
        "audit.view_auditevent",
    ],
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
    Group.objects.filter(name="privacy_officer").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_move_from_governance"),
        ("feedback", "0007_review_quality_and_privacy"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
