# A revert counts the records it leaves alone by reason (owners/transfers/revert.py).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("owners", "0005_outbox_and_transfer_job_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="transferjob",
            name="skipped_reasons",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
