"""What the job page's "moved per module" costs: the GROUP BY over a job's audit rows
(`owners.selectors.transfer_module_counts`), for batches of 150,000 and 1,000,000 rows.

PostgreSQL only (the rows come from generate_series). Run against a scratch database:
    DATABASE_URL=postgres://... python manage.py shell < bench/admin_poll.py
It creates an organization of its own and removes everything it wrote.
"""

import statistics
import time
import uuid

from django.db import connection, transaction

from audit.models import AuditEntry
from crm.ids import new_id
from crm.models import Organization, Profile, User
from crm.modules import module_by_name
from owners.models import TransferJob
from owners.selectors import transfer_module_counts

SIZES = (150_000, 1_000_000)
RUNS = 7

organization = Organization.objects.create(name=f"bench-admin-poll-{uuid.uuid4().hex[:8]}")
user = User.objects.create(
    organization=organization,
    email=f"{organization.name}@bench.test",
    full_name="Bench User",
    profile=Profile.objects.get(organization=organization, name="Administrator"),
)
try:
    for size in SIZES:
        batch_id = uuid.uuid4()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {AuditEntry._meta.db_table} (id, organization_id, module_id,
                        record_id, previous_owner_id, new_owner_id, actor_id, source, batch_id,
                        created_time)
                    SELECT %s + g, %s, %s, g, %s, %s, %s, 'offboarding', %s, now()
                    FROM generate_series(1, %s) AS g""",
                [
                    new_id() + (1 << 40),
                    organization.id,
                    module_by_name("Contacts").id,
                    user.id,
                    user.id,
                    user.id,
                    batch_id,
                    size,
                ],
            )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {AuditEntry._meta.db_table}")
        job = TransferJob(organization_id=organization.id, batch_id=batch_id)
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            transfer_module_counts(job)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{size:>9,} audit rows: median {statistics.median(timings):.1f} ms, "
            f"min {min(timings):.1f} ms ({RUNS} runs)"
        )
        AuditEntry.objects.filter(batch_id=batch_id).delete()
finally:
    AuditEntry.objects.filter(organization_id=organization.id).delete()
    User.objects.filter(id=user.id).delete()
    organization.delete()
