"""Where processes take their blocks of ids (crm/ids.py): a sequence on PostgreSQL, a one-row
counter table elsewhere. Replaces the cycling node-number sequence, which let two processes
share a node after 1,024 process starts."""

from django.db import migrations

# (2**63 - 10**18) // 2**20 - 1: the last block whose ids all fit a signed 64-bit integer.
LAST_BLOCK = 7842418705800
POSTGRES_FORWARD = (
    f"CREATE SEQUENCE crm_id_block AS bigint MINVALUE 0 START 0 MAXVALUE {LAST_BLOCK} NO CYCLE",
    "DROP SEQUENCE IF EXISTS crm_id_node",
)
POSTGRES_BACKWARD = (
    "DROP SEQUENCE crm_id_block",
    "CREATE SEQUENCE IF NOT EXISTS crm_id_node AS integer MINVALUE 0 MAXVALUE 1023 START 0 CYCLE",
)
# The CHECK keeps it one row; last_block -1 means no block taken yet.
OTHER_FORWARD = (
    "CREATE TABLE crm_id_block (id integer PRIMARY KEY CHECK (id = 1), last_block bigint NOT NULL)",
    "INSERT INTO crm_id_block (id, last_block) VALUES (1, -1)",
)
OTHER_BACKWARD = ("DROP TABLE crm_id_block",)


def create_block_source(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRES_FORWARD if postgres else OTHER_FORWARD:
        schema_editor.execute(statement)


def drop_block_source(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRES_BACKWARD if postgres else OTHER_BACKWARD:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("crm", "0003_fewer_indexes")]

    operations = [migrations.RunPython(create_block_source, drop_block_source)]
