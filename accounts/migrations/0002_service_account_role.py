from django.db import migrations


def create_role(apps, schema_editor):
    # A marker group without permissions: accounts that are clients, not people.
    apps.get_model("auth", "Group").objects.get_or_create(name="service_account")


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("accounts", "0001_move_from_governance"),
    ]

    operations = [migrations.RunPython(create_role, migrations.RunPython.noop)]
