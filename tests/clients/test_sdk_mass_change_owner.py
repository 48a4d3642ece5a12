"""Mass change owner through the official SDKs' MassChangeOwnerOperations, on a live server with a
real redis-server and a real `celery -A config worker`: the SDK schedules the job, the worker runs
it, and the SDK reads its status."""

from __future__ import annotations

import pytest

from crm.models import Record
from owners.models import TransferJob
from tests.integration.conftest import wait_until

from .test_sdks import only

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPES = (
    "ZohoCRM.change_owner.CREATE",
    "ZohoCRM.change_owner.READ",
    "ZohoCRM.users.READ",
    "ZohoCRM.org.READ",
)


def test_mass_change_owner_and_its_status(
    sdk, world, run_sdk, redis_server, queue_name, publish_to, start_worker
):
    contacts = world["contacts"]
    publish_to(redis_server.url, queue_name)
    mass = {
        "op": "mass_change_owner",
        "module": "Contacts",
        "owner": str(world["bo"].id),
        "from": str(world["ann"].id),
    }
    [scheduled] = only(run_sdk(sdk, world["ann"], [mass], scopes=SCOPES))
    assert scheduled["status_code"] == 202
    [entry] = scheduled["object"]["data"]
    assert (entry["_class"], entry["code"], entry["status"]) == (
        "SuccessResponse",
        "SCHEDULED",
        "success",
    )
    job_id = entry["details"]["job_id"]
    transfer = TransferJob.objects.get(id=job_id)

    start_worker(redis_server.url, queue_name)
    wait_until(
        lambda: TransferJob.objects.get(pk=transfer.pk).status == "completed",
        what="the worker to complete the job",
    )
    status = {"op": "mass_change_owner_status", "module": "Contacts", "job_id": job_id}
    [answer] = only(run_sdk(sdk, world["ann"], [status], scopes=SCOPES))

    assert answer["status_code"] == 200
    assert answer["object"]["_class"] == "ResponseWrapper"
    [done] = answer["object"]["data"]
    assert done == {
        "_class": "Status",
        "status": "COMPLETED",
        "total_count": 3,
        "updated_count": 3,
        "not_updated_count": 0,
        "failed_count": 0,
    }
    assert [Record.objects.get(pk=c.pk).owner_id for c in contacts] == [world["bo"].id] * 3
