"""The sandbox's calls under way (crm/sandbox/journal.py): one row per journaled call from its
start until its journal entry is written, after its answer has been sent. No model: only the
journal's own statements touch it. On PostgreSQL it is UNLOGGED, with no key and one index (by
id: each call's row is deleted by it), so that the row the token lookup writes costs as little
as a row can; a crash empties it, which loses nothing (a call under way then has no process left
to finish it)."""

from django.db import migrations

COLUMNS = "(id bigint NOT NULL, organization_id bigint NOT NULL, time {time} NOT NULL)"


def create(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    kind = "UNLOGGED TABLE" if postgresql else "TABLE"
    columns = COLUMNS.format(time="timestamp with time zone" if postgresql else "datetime")
    schema_editor.execute(f"CREATE {kind} sandbox_call_under_way {columns}")
    schema_editor.execute("CREATE INDEX sandbox_call_under_way_id ON sandbox_call_under_way (id)")


def drop(apps, schema_editor):
    schema_editor.execute("DROP TABLE sandbox_call_under_way")


class Migration(migrations.Migration):
    dependencies = [("crm", "0015_record_touched_by_without_keys")]

    operations = [migrations.RunPython(create, drop)]
