from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_GOVERNANCE = [
    "governance.view_decisionlogentry",
    "governance.view_promotionrequest",
    "governance.view_approval",
    "governance.view_releasenote",
    "governance.view_triggerevent",
    "governance.view_circuitbreaker",
    "governance.view_governancepolicy",
]

# Approvers (ml_lead, ai_safety, product) need the approve permission; the tier
# rules then decide which of them a given request needs.
ROLE_PERMISSIONS = {
    "analyst": [],
    "senior_analyst": [
        "governance.view_promotionrequest",
        "governance.view_releasenote",
        "governance.view_decisionlogentry",
        "governance.add_triggerevent",
    ],
    "ml_lead": [
        *READ_GOVERNANCE,
        "governance.add_decisionlogentry",
        "governance.add_promotionrequest",
        "governance.change_promotionrequest",
        "governance.approve_promotionrequest",
        "governance.override_gate",
        "governance.rollback_label",
        "governance.reset_circuitbreaker",
        "governance.add_triggerevent",
        "governance.check_triggers",
        "governance.change_governancepolicy",
        "governance.add_governancepolicy",
    ],
    "ai_safety": [
        *READ_GOVERNANCE,
        "governance.approve_promotionrequest",
        "governance.rollback_label",
        "governance.add_triggerevent",
        "governance.add_decisionlogentry",
    ],
    "product": [
        *READ_GOVERNANCE,
        "governance.approve_promotionrequest",
        "governance.add_triggerevent",
    ],
    "auditor": [*READ_GOVERNANCE, "governance.view_auditevent"],
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
        ("governance", "0004_append_only_guards"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
