from django.db import migrations, models


def read_only_writes_nothing(apps, schema_editor):
    Profile = apps.get_model("crm", "Profile")
    Profile.objects.filter(name="Read Only").update(can_write_records=False)


class Migration(migrations.Migration):
    """Whether a profile may add, edit and delete records (the record APIs): every profile may,
    but Read Only."""

    dependencies = [
        ("crm", "0009_access_token_lookup_function"),
    ]

    operations = [
        migrations.AddField(
            model_name="profile",
            name="can_write_records",
            field=models.BooleanField(default=True),
        ),
        migrations.RunPython(read_only_writes_nothing, migrations.RunPython.noop),
    ]
