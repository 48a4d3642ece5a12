import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Who added a record through the record APIs (the Created_By of their answers)."""

    dependencies = [
        ("crm", "0010_profile_can_write_records"),
    ]

    operations = [
        migrations.AddField(
            model_name="record",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
