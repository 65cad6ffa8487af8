from django.contrib.auth.management import create_permissions
from django.db import migrations

READ = ["governance.view_holdoutreport"]
ROLE_PERMISSIONS = {
    "ml_lead": [*READ, "governance.establish_holdout"],
    "ai_safety": READ,
    "product": READ,
    "senior_analyst": READ,
    "auditor": READ,
}


def grant_roles(apps, schema_editor):
    # Permissions are normally created after migrate; roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apply_migrations=False, verbosity=0, apps=apps)
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
        ("governance", "0015_holdout_baseline_and_weekly_report"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
