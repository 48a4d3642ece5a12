"""The record writes as a service (owners/records/writes.py), without HTTP: set-based (the same
statements for 10 records as for 100), one transaction per call, the owner rules."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from crm.models import Record
from crm.modules import module_by_name
from owners.records import writes

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")


@pytest.fixture
def team(make_user):
    return [make_user(email=f"rep{n}@zylker.test") for n in range(3)]


@pytest.fixture
def company(make_record):
    return make_record(module_name="Accounts", name="Zylker", fields={"Account_Name": "Zylker"})


def rows(count: int, team, company, *, start: int = 0) -> list[dict]:
    """`count` contacts, each with an email, a company and one of three owners."""
    return [
        {
            "Last_Name": f"Person {n}",
            "Email": f"person{n}@x.test",
            "Account_Name": {"id": str(company.id)},
            "Owner": {"id": str(team[n % 3].id)},
        }
        for n in range(start, start + count)
    ]


def add(organization, actor, data):
    return writes.add_records(organization=organization, actor=actor, module=CONTACTS, rows=data)


# The same statements for any number of rows is PostgreSQL's (arrays); elsewhere the owners and
# the audit rows take a statement per new owner.
@pytest.mark.postgres
def test_adding_100_records_costs_the_statements_10_do(organization, admin_user, team, company):
    add(organization, admin_user, rows(1, team, company, start=1000))  # ids drawn, block taken
    with CaptureQueriesContext(connection) as ten:
        add(organization, admin_user, rows(10, team, company))
    with CaptureQueriesContext(connection) as hundred:
        result = add(organization, admin_user, rows(100, team, company, start=10))

    assert all(outcome.ok for outcome in result.outcomes)
    assert len(ten) == len(hundred)
    # 1. the module's fields (its first records), 2. the owners given, 3. the lookups,
    # 4. the unique values taken; in the transaction (a savepoint in a test), 5. the owners
    # again FOR SHARE, 6. INSERT, 7. audit INSERT
    assert len(hundred) == 7 + 2, [q["sql"][:60] for q in hundred]
    assert Record.objects.filter(module_id=CONTACTS.id).count() == 111
    assert AuditEntry.objects.filter(source="insert").count() == 111


@pytest.mark.postgres
def test_updating_100_records_costs_the_statements_10_do(organization, admin_user, team, company):
    add(organization, admin_user, rows(110, team, company))
    ids = list(
        Record.objects.filter(module_id=CONTACTS.id).order_by("id").values_list("id", flat=True)
    )

    def update(record_ids):
        # Each record to the next rep: every owner changes.
        data = [
            {"id": str(record_id), "Title": "CTO", "Owner": {"id": str(team[(n + 1) % 3].id)}}
            for n, record_id in enumerate(ids)
            if record_id in record_ids
        ]
        return writes.update_records(
            organization=organization, actor=admin_user, module=CONTACTS, rows=data
        )

    with CaptureQueriesContext(connection) as ten:
        update(ids[:10])
    with CaptureQueriesContext(connection) as hundred:
        result = update(ids[10:])

    assert all(outcome.ok for outcome in result.outcomes)
    assert len(ten) == len(hundred)
    # 1. the module's fields, 2. the owners given; in the transaction (a savepoint in a test),
    # 3. the lock, 4. the owners again FOR SHARE, 5. UPDATE of the fields, 6. UPDATE of the
    # owners, 7. audit INSERT
    assert len(hundred) == 7 + 2, [q["sql"][:60] for q in hundred]
    assert AuditEntry.objects.filter(source="update").count() == 110


@pytest.mark.postgres
def test_deleting_100_records_costs_the_statements_10_do(organization, admin_user, team, company):
    add(organization, admin_user, rows(110, team, company))
    ids = list(Record.objects.filter(module_id=CONTACTS.id).values_list("id", flat=True))

    def delete(record_ids):
        return writes.delete_records(
            organization=organization, actor=admin_user, module=CONTACTS, record_ids=record_ids
        )

    with CaptureQueriesContext(connection) as ten:
        delete(ids[:10])
    with CaptureQueriesContext(connection) as hundred:
        result = delete(ids[10:])

    # In the transaction (a savepoint in a test): 1. DELETE the records, 2. DELETE their
    # activities
    assert len(ten) == len(hundred) == 2 + 2
    assert result.deleted == frozenset(ids[10:])


def test_a_call_writes_nothing_when_its_transaction_fails(
    organization, admin_user, team, company, monkeypatch
):
    def fail(**kwargs):
        raise RuntimeError("the audit INSERT failed")

    monkeypatch.setattr(writes, "record_owner_changes_each", fail)

    with pytest.raises(RuntimeError):
        add(organization, admin_user, rows(3, team, company))

    assert not Record.objects.filter(module_id=CONTACTS.id).exists()


def test_the_service_refuses_a_profile_that_may_not_write(organization, make_user):
    reader = make_user(email="rae@zylker.test", profile_name="Read Only")

    with pytest.raises(writes.NotAllowed) as refused:
        add(organization, reader, [{"Last_Name": "A"}])

    assert refused.value.permission == "Create_Records"


def test_upsert_updates_what_it_finds_and_adds_the_rest(organization, admin_user, team, company):
    add(organization, admin_user, rows(2, team, company))

    result = writes.upsert_records(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        rows=[
            {"Last_Name": "Found", "Email": "PERSON1@x.test"},
            {"Last_Name": "New", "Email": "new@x.test"},
            {"Email": "no-name@x.test"},
        ],
    )

    found = Record.objects.get(fields__Last_Name="Found")
    new = Record.objects.get(fields__Last_Name="New")
    assert [(o.action, o.record_id, o.duplicate_field) for o in result.outcomes[:2]] == [
        ("update", found.id, "Email"),
        ("insert", new.id, None),
    ]
    assert result.outcomes[2].error.kind.code == "MANDATORY_NOT_FOUND"
    assert found.fields["Email"] == "PERSON1@x.test"
