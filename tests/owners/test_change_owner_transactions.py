"""Atomicity and concurrency of change_owner, on real transactions."""

from __future__ import annotations

import itertools
import random
import threading

import pytest
from django.db import DatabaseError, connection

from audit.models import AuditEntry
from crm.models import Record
from crm.modules import module_by_name
from owners import services
from owners.models import OwnerJob
from owners.services import RelatedSelection, change_owner
from tests.factories import RecordFactory, UserFactory

from .bigin import error, post_bulk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failure_after_the_update_leaves_everything_as_before(
    admin_client, admin_user, organization, new_owner, monkeypatch
):
    records = RecordFactory.create_batch(5, organization=organization, owner=admin_user)
    owners_before = {r.id: r.owner_id for r in records}

    def failing_insert(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    # The audit INSERT runs after the UPDATE: fail it there.
    monkeypatch.setattr(services, "record_owner_changes", failing_insert)
    body = {
        "ids": [str(r.id) for r in records],
        "owner": {"id": str(new_owner.id)},
        "notify": True,
        "related_modules": [{"api_name": "Tasks"}],
    }
    response = post_bulk(admin_client, body)

    assert response.status_code == 500
    assert response.json() == error("INTERNAL_ERROR", {}, "Internal Server Error")
    assert dict(Record.objects.values_list("id", "owner_id")) == owners_before
    assert not AuditEntry.objects.exists()
    assert not OwnerJob.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_overlapping_requests_in_opposite_orders_never_deadlock(organization, admin_user):
    contacts = module_by_name("Contacts")
    owners = [UserFactory(organization=organization) for _ in range(2)]
    records = RecordFactory.create_batch(40, organization=organization, owner=admin_user)
    ids = [r.id for r in records]
    # Thread A takes ids 0..29 ascending, thread B 10..39 descending: 20 shared ids.
    shares = {0: ids[:30], 1: list(reversed(ids[10:]))}
    errors: list[BaseException] = []
    rounds = 40

    def work(worker: int) -> None:
        rng = random.Random(worker)
        try:
            for _ in range(rounds):
                change_owner(
                    organization=organization,
                    actor=admin_user,
                    module=contacts,
                    record_ids=shares[worker],
                    new_owner=owners[rng.randrange(2)],
                    related=RelatedSelection(modules=("Tasks",)),
                    source="api",
                )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert OwnerJob.objects.count() == 2 * rounds
    final = dict(Record.objects.filter(id__in=ids).values_list("id", "owner_id"))
    for record_id in ids:
        history = list(
            AuditEntry.objects.filter(record_id=record_id)
            .order_by("created_time", "id")
            .values_list("previous_owner_id", "new_owner_id")
        )
        assert history, record_id
        assert history[-1][1] == final[record_id]
        # Each change starts from the owner the previous one left: no lost update.
        assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(history))
