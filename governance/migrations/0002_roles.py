from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_REGISTRY = [
    "registry.view_prompttemplate",
    "registry.view_promptversion",
    "registry.view_modelversion",
    "registry.view_label",
    "evaluation.view_targetdatabase",
]

ROLE_PERMISSIONS = {
    "analyst": [*READ_REGISTRY, "registry.resolve_prompttemplate"],
    "senior_analyst": [*READ_REGISTRY, "registry.resolve_prompttemplate"],
    "ml_lead": [
        *READ_REGISTRY,
        "registry.add_prompttemplate",
        "registry.change_prompttemplate",
        "registry.add_promptversion",
        "registry.add_modelversion",
        "evaluation.add_targetdatabase",
        "evaluation.change_targetdatabase",
    ],
    "ai_safety": [*READ_REGISTRY, "governance.view_auditevent"],
    "product": list(READ_REGISTRY),
    "auditor": [
        *READ_REGISTRY,
        "governance.view_auditevent",
        "governance.view_apitoken",
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


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("governance", "0001_initial"),
        ("registry", "0001_initial"),
        ("evaluation", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
