from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_RUNS = [
    "evaluation.view_evaluationrun",
    "evaluation.view_evaluationresult",
    "evaluation.view_regressionalert",
]

# ML leads start and cancel runs; the people who judge releases read them.
ROLE_PERMISSIONS = {
    "ml_lead": [
        *READ_RUNS,
        "evaluation.add_evaluationrun",
        "evaluation.cancel_evaluationrun",
    ],
    "ai_safety": list(READ_RUNS),
    "product": list(READ_RUNS),
    "auditor": list(READ_RUNS),
}


def grant_run_roles(apps, schema_editor):
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
        ("evaluation", "0004_run_chunks_gold_cache_alerts"),
    ]

    operations = [migrations.RunPython(grant_run_roles, migrations.RunPython.noop)]
