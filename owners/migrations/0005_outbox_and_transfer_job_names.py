# One vocabulary: the outbox (follow-up work of a request, and the steps of transfer jobs) and
# transfer jobs (many records) no longer share the word "job".
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("owners", "0004_owner_transfers"),
        ("crm", "0008_org_api_limits"),
    ]

    operations = [
        migrations.RenameModel("OwnerJob", "OutboxEntry"),
        migrations.RenameModel("OwnerTransfer", "TransferJob"),
        migrations.AlterModelOptions(
            name="outboxentry",
            options={"verbose_name": "outbox entry", "verbose_name_plural": "outbox"},
        ),
        migrations.RenameIndex(
            model_name="outboxentry", new_name="outbox_open", old_name="ownerjob_open"
        ),
        migrations.RenameIndex(
            model_name="outboxentry", new_name="outbox_batch", old_name="ownerjob_batch"
        ),
    ]
