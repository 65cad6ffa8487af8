from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_GOLDEN = [
    "evaluation.view_targetdatabase",
    "evaluation.view_goldenexample",
    "evaluation.view_goldensetsnapshot",
]

# Adding a manual golden example and retiring one (change) are curation; snapshots
# decide what runs are compared on, so only ML leads freeze them.
ROLE_PERMISSIONS = {
    "analyst": list(READ_GOLDEN),
    "senior_analyst": [
        *READ_GOLDEN,
        "evaluation.add_goldenexample",
        "evaluation.change_goldenexample",
    ],
    "ml_lead": [
        *READ_GOLDEN,
        "evaluation.add_goldenexample",
        "evaluation.change_goldenexample",
        "evaluation.add_goldensetsnapshot",
    ],
    "ai_safety": list(READ_GOLDEN),
    "product": list(READ_GOLDEN),
    "auditor": list(READ_GOLDEN),
}


def grant_golden_roles(apps, schema_editor):
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


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("governance", "0002_roles"),
        ("evaluation", "0002_golden_sets_and_runs"),
    ]

    operations = [migrations.RunPython(grant_golden_roles, migrations.RunPython.noop)]
