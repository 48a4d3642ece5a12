"""Transfer jobs end to end: PostgreSQL, a real redis-server and real `celery -A config
worker` processes: the status a client polls, a worker SIGKILLed inside a chunk of a 50,000-record
job, and single-record change_owner requests racing a job on the same records."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection
from django.db.models import Count

from audit.models import AuditEntry
from crm.models import Record
from crm.modules import module_by_name
from owners import tasks
from owners.models import OutboxEntry, TransferJob
from tests.owners.bigin import post_single

from .conftest import wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPES = ("ZohoBigin.change_owner.CREATE", "ZohoBigin.change_owner.READ")
CONTACTS = module_by_name("Contacts")
MASS = "/bigin/v2/Contacts/actions/mass_change_owner"
# Far below any id `crm.ids.new_id` draws today (ids start with their time): bulk-loaded ids
# never collide with the ids the code under test generates.
BULK_ID_BASE = 1 << 40


@pytest.fixture
def leaving(make_user):
    return make_user(full_name="Lea Ving", email="lea@zylker.test", profile_name="Standard")


@pytest.fixture
def new_owner(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, *SCOPES)


def bulk_contacts(organization, owner, count: int) -> list[int]:
    """`count` contacts of `owner`, inserted by one set-based statement; returns their ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Record._meta.db_table} (id, organization_id, module_id, owner_id,
                    name, fields, created_time, modified_time)
                SELECT %s + g, %s, %s, %s, 'Bulk ' || g, '{{}}'::jsonb, now(), now()
                FROM generate_series(1, %s) AS g""",
            [BULK_ID_BASE, organization.id, CONTACTS.id, owner.id, count],
        )
    return [BULK_ID_BASE + n for n in range(1, count + 1)]


def by_owner(user) -> dict:
    return {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(user.id)}}


def schedule(client, new_owner, leaving) -> TransferJob:
    response = client.post(
        MASS, {"owner": {"id": str(new_owner.id)}, "criteria": by_owner(leaving)}, format="json"
    )
    assert response.status_code == 202, response.content
    return TransferJob.objects.get(id=response.json()["data"][0]["details"]["job_id"])


def status(client, transfer) -> dict:
    return client.get(f"{MASS}?job_id={transfer.id}").json()["data"][0]


def test_status_goes_scheduled_running_completed_on_a_real_worker(
    row_lock,
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    settings,
    client,
    organization,
    new_owner,
    leaving,
):
    settings.TRANSFER_JOB_CHUNK = 100
    ids = bulk_contacts(organization, leaving, 1_000)
    publish_to(redis_server.url, queue_name)
    transfer = schedule(client, new_owner, leaving)
    assert status(client, transfer)["Status"] == "SCHEDULED"
    # A record of the sixth chunk held by another writer: the job is seen running, half done.
    lock = row_lock(Record._meta.db_table, [ids[550]])
    start_worker(redis_server.url, queue_name, TRANSFER_JOB_CHUNK="100")
    running = wait_until(
        lambda: (entry := status(client, transfer))["Updated_Count"] == 500 and entry,
        what="the job to run up to the held record",
    )
    assert running["Status"] == "RUNNING"
    assert running["Total_Count"] == 1_000
    lock.release()
    done = wait_until(
        lambda: (entry := status(client, transfer))["Status"] == "COMPLETED" and entry,
        what="the job to complete",
        timeout=60,
    )
    assert done == {
        "Status": "COMPLETED",
        "Total_Count": 1_000,
        "Updated_Count": 1_000,
        "Not_Updated_Count": 0,
        "Failed_Count": 0,
        "Skipped_Count": 0,
        "batch_id": str(transfer.batch_id),
        "cancelled": False,
    }


def test_a_worker_killed_inside_a_chunk_of_a_50000_record_job_is_resumed_exactly_once(
    row_lock,
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    settings,
    client,
    organization,
    new_owner,
    leaving,
):
    settings.OUTBOX_LEASE_SECONDS = 2
    ids = bulk_contacts(organization, leaving, 50_000)
    publish_to(redis_server.url, queue_name)
    # A record in the middle of the third chunk (5,000 records each) held by another writer: the
    # worker's third chunk waits for it inside its transaction, having claimed its entry and
    # locked the records before it.
    lock = row_lock(Record._meta.db_table, [ids[12_500]])
    doomed = start_worker(redis_server.url, queue_name)
    transfer = schedule(client, new_owner, leaving)

    def a_chunk_committed_and_another_claimed():
        transfer.refresh_from_db()
        claimed = OutboxEntry.objects.filter(
            batch_id=transfer.batch_id, kind="transfer_chunk", status="running"
        ).exists()
        return transfer.chunks_done >= 2 and claimed

    wait_until(a_chunk_committed_and_another_claimed, what="two chunks and a third claimed")
    doomed.kill()
    transfer.refresh_from_db()
    moved_before_the_kill = transfer.updated_count
    assert moved_before_the_kill == 5_000 * transfer.chunks_done
    assert Record.objects.filter(owner=new_owner).count() == moved_before_the_kill
    # The dead worker's transaction rolls back once its server process finds the client gone.
    lock.release()

    # Another worker; the sweep hands it the dead worker's chunk once its lease has run out.
    start_worker(redis_server.url, queue_name)
    wait_until(lambda: tasks.sweep() >= 1, what="the sweep to re-dispatch the dead chunk")
    wait_until(
        lambda: TransferJob.objects.get(id=transfer.id).status == "completed",
        what="the job to complete",
        timeout=120,
    )
    transfer.refresh_from_db()
    assert (transfer.total_count, transfer.updated_count) == (50_000, 50_000)
    assert (transfer.skipped_count, transfer.failed_count) == (0, 0)
    assert Record.objects.filter(id__in=ids, owner=new_owner).count() == 50_000
    audit = AuditEntry.objects.filter(batch_id=transfer.batch_id)
    assert audit.count() == 50_000
    assert audit.values("record_id").distinct().count() == 50_000
    assert not audit.values("record_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    killed = OutboxEntry.objects.filter(batch_id=transfer.batch_id, attempts=2)
    assert killed.count() == 1


def test_single_record_changes_racing_a_job_all_succeed_and_the_audit_tells_the_truth(
    row_lock,
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    settings,
    client,
    auth_client,
    admin_user,
    organization,
    new_owner,
    leaving,
    make_user,
):
    settings.TRANSFER_JOB_CHUNK = 500
    third = make_user(full_name="Third Person", email="third@zylker.test")
    ids = bulk_contacts(organization, leaving, 10_000)
    publish_to(redis_server.url, queue_name)
    # The job's last record held by another writer for the first seconds of the race: the job
    # is still running while the requests fire (those for the last chunk's records wait too).
    lock = row_lock(Record._meta.db_table, [ids[-1]])
    threading.Timer(3.0, lock.release).start()
    start_worker(redis_server.url, queue_name, TRANSFER_JOB_CHUNK="500")
    transfer = schedule(client, new_owner, leaving)
    wait_until(lambda: TransferJob.objects.get(id=transfer.id).status == "running", what="the job")
    failures: list[tuple[int, int]] = []
    during_job = []

    def fire(seed: int) -> None:
        rng = random.Random(seed)
        request_client = auth_client(admin_user, *SCOPES)
        for _ in range(60):
            record_id = rng.choice(ids)
            target = rng.choice([third, leaving, new_owner])
            response = post_single(request_client, record_id, {"owner": {"id": str(target.id)}})
            if response.status_code != 200:
                failures.append((record_id, response.status_code))
            during_job.append(TransferJob.objects.filter(id=transfer.id, status="running").exists())
        connection.close()

    threads = [threading.Thread(target=fire, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(
        lambda: TransferJob.objects.get(id=transfer.id).status == "completed",
        what="the job to complete",
        timeout=120,
    )
    assert failures == []
    assert any(during_job), "no request ran while the job was running"
    # Every record's owner is the new owner of its latest audit row.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT r.id FROM {Record._meta.db_table} r
                JOIN LATERAL (SELECT new_owner_id FROM {AuditEntry._meta.db_table} a
                    WHERE a.organization_id = r.organization_id AND a.record_id = r.id
                    ORDER BY a.created_time DESC, a.id DESC LIMIT 1) latest ON true
                WHERE r.id >= %s AND r.owner_id IS DISTINCT FROM latest.new_owner_id""",
            [BULK_ID_BASE],
        )
        assert cursor.fetchall() == []
    transfer.refresh_from_db()
    assert transfer.total_count == (
        transfer.updated_count + transfer.skipped_count + transfer.failed_count
    )
    assert AuditEntry.objects.filter(batch_id=transfer.batch_id).count() == transfer.updated_count
