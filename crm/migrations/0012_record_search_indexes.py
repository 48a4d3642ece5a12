from django.db import migrations, models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower


def _key_index(key: str) -> models.Index:
    return models.Index(
        models.F("organization"),
        models.F("module"),
        Lower(KeyTextTransform(key, "fields")),
        name=f"record_org_module_{key.lower()}",
    )


class Migration(migrations.Migration):
    """What a client searches records by (email, phone, mobile, name) and what a write checks for
    duplicates, without case, per organization and module."""

    dependencies = [
        ("crm", "0011_record_created_by"),
    ]

    operations = [
        migrations.AddIndex(model_name="record", index=_key_index("Email")),
        migrations.AddIndex(model_name="record", index=_key_index("Phone")),
        migrations.AddIndex(model_name="record", index=_key_index("Mobile")),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(
                models.F("organization"),
                models.F("module"),
                Lower("name"),
                name="record_org_module_name",
            ),
        ),
    ]
