"""The seven Bigin modules; on PostgreSQL, foreign keys that keep owners and related records
inside the record's organization, and the sequence that hands each process its id node number
(crm/ids.py)."""

from django.db import migrations

SAME_ORG_KEYS = (
    "ALTER TABLE crm_record ADD CONSTRAINT record_owner_same_org "
    "FOREIGN KEY (owner_id, organization_id) REFERENCES crm_user (id, organization_id) "
    "DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE crm_record ADD CONSTRAINT record_related_same_org "
    "FOREIGN KEY (related_to_id, organization_id) REFERENCES crm_record (id, organization_id) "
    "DEFERRABLE INITIALLY DEFERRED",
)


NODE_SEQUENCE = (
    "CREATE SEQUENCE IF NOT EXISTS crm_id_node AS integer MINVALUE 0 MAXVALUE 1023 START 0 CYCLE"
)


def create_modules(apps, schema_editor):
    from crm.modules import MODULES

    Module = apps.get_model("crm", "Module")
    for info in MODULES:
        Module.objects.update_or_create(
            id=info.id,
            defaults={
                "api_name": info.api_name,
                "module_name": info.module_name,
                "singular_label": info.singular_label,
                "plural_label": info.plural_label,
                "is_activity": info.is_activity,
            },
        )


def add_same_org_keys(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in SAME_ORG_KEYS:
            schema_editor.execute(statement)
        schema_editor.execute(NODE_SEQUENCE)


def drop_same_org_keys(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in ("record_owner_same_org", "record_related_same_org"):
            schema_editor.execute(f"ALTER TABLE crm_record DROP CONSTRAINT {name}")
        schema_editor.execute("DROP SEQUENCE IF EXISTS crm_id_node")


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [
        migrations.RunPython(create_modules, migrations.RunPython.noop),
        migrations.RunPython(add_same_org_keys, drop_same_org_keys),
    ]
