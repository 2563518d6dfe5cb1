from django.db import migrations

ROLES = ("service",)


def create_groups(apps, schema_editor):
    group = apps.get_model("auth", "Group")
    for name in ROLES:
        group.objects.get_or_create(name=name)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    """The service role: accounts of PACS gateways and scripts that call DICOMweb with a token."""

    dependencies = [("accounts", "0001_roles")]
    operations = [migrations.RunPython(create_groups, remove_groups)]
