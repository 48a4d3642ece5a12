"""The audit table partitioned by month on PostgreSQL (audit/partitions.py); elsewhere nothing.

The table is rebuilt: the old one renamed, a partitioned one created with the same columns and
indexes and the primary key (id, created_time), partitions for every month from the oldest row's
to MONTHS_AHEAD months ahead and a default one, the rows copied, the old table dropped. It
rewrites the table once, under the migration's lock (docs/audit.md).
"""

from django.db import migrations

from audit.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    PARENT,
    add_months,
    create_month,
    month_of,
    months_between,
)

OLD = f"{PARENT}_unpartitioned"


def _indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes but its primary key's."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = to_regclass(%s) AND NOT x.indisprimary ORDER BY i.relname",
        [table],
    )
    return cursor.fetchall()


def _rebuild(schema_editor, *, partitioned: bool) -> None:
    with schema_editor.connection.cursor() as cursor:
        indexes = _indexes(cursor, PARENT)
        cursor.execute(f'ALTER TABLE "{PARENT}" RENAME TO "{OLD}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f'ALTER TABLE "{OLD}" DROP CONSTRAINT "{PARENT}_pkey"')
        if partitioned:
            cursor.execute(
                f'CREATE TABLE "{PARENT}" (LIKE "{OLD}" INCLUDING DEFAULTS)'
                " PARTITION BY RANGE (created_time)"
            )
            cursor.execute(
                f'ALTER TABLE "{PARENT}" ADD CONSTRAINT "{PARENT}_pkey"'
                " PRIMARY KEY (id, created_time)"
            )
        else:
            cursor.execute(f'CREATE TABLE "{PARENT}" (LIKE "{OLD}" INCLUDING DEFAULTS)')
            cursor.execute(
                f'ALTER TABLE "{PARENT}" ADD CONSTRAINT "{PARENT}_pkey" PRIMARY KEY (id)'
            )
        for _, definition in indexes:
            # pg_get_indexdef names the table the index was on: the name is the new table's now.
            cursor.execute(definition.replace(" ON ONLY ", " ON "))
        if partitioned:
            cursor.execute(f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF "{PARENT}" DEFAULT')
            cursor.execute(f'SELECT min(created_time), now() FROM "{OLD}"')
            oldest, now = cursor.fetchone()
            this_month = month_of(now)
            for month in months_between(
                month_of(oldest or now), add_months(this_month, MONTHS_AHEAD)
            ):
                create_month(month)
        cursor.execute(f'INSERT INTO "{PARENT}" SELECT * FROM "{OLD}"')
        cursor.execute(f'DROP TABLE "{OLD}"')


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0008_record_write_sources"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
