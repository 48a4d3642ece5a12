"""The plans PostgreSQL picks for the records list: indexed at both extremes of `owner_id=`
(an owner with no record, an owner with most of them) and for a deep `page_token` page; and for
a search by email or phone, and the duplicate check of an added contact's email. Each
test EXPLAINs the very SQL the API ran (captured from the request), on 20,000 contacts with
fresh statistics. Plans, not timings: speed is measured by `make bench` (bench/scale.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.modules import module_by_name
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

READ = "ZohoBigin.modules.READ"
CONTACTS = module_by_name("Contacts")
BULK = 20_000


@pytest.fixture
def owners(organization, admin_user):
    """`huge` owns all but 2 of 20,000 contacts, `rare` the other 2, `nobody` none."""
    rare = UserFactory(organization=organization)
    nobody = UserFactory(organization=organization)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_record (id, name, fields, created_time, modified_time, module_id,"
            " organization_id, owner_id)"
            " SELECT 1000000000000000 + g, 'Contact ' || g,"
            " jsonb_build_object('Last_Name', 'Contact ' || g, 'Email', 'c' || g || '@x.test',"
            " 'Phone', '555-' || g), now(), now(), %s, %s,"
            " CASE WHEN g IN (7, 15000) THEN %s ELSE %s END"
            " FROM generate_series(1, %s) AS g",
            [CONTACTS.id, organization.id, rare.id, admin_user.id, BULK],
        )
        cursor.execute("ANALYZE crm_record")
    return {"huge": admin_user, "rare": rare, "nobody": nobody}


def _plan_of_request(client, params: dict, path: str = "/bigin/v2/Contacts") -> str:
    """EXPLAIN of the records query the API ran for `params` (the page query is the last)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params)
    assert response.status_code in (200, 204)
    sql = captured.captured_queries[-1]["sql"]
    assert "crm_record" in sql
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("who", ["rare", "nobody"])
def test_an_owner_with_few_records_is_read_through_the_owner_index(
    owners, auth_client, admin_user, who
):
    client = auth_client(admin_user, READ)

    plan = _plan_of_request(client, {"owner_id": owners[who].id, "per_page": 200})

    assert "record_org_owner_module_id" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan


def test_an_owner_with_most_records_is_read_in_index_order(owners, auth_client, admin_user):
    client = auth_client(admin_user, READ)

    plan = _plan_of_request(client, {"owner_id": owners["huge"].id, "per_page": 200})

    # Any index that yields the rows in id order; never a scan of the table, never a sort.
    assert "Index" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan


def test_a_token_page_is_an_index_range_not_an_offset(owners, auth_client, admin_user):
    client = auth_client(admin_user, READ)
    token = client.get("/bigin/v2/Contacts", {"per_page": 200}).json()["info"]["next_page_token"]

    plan = _plan_of_request(client, {"per_page": 200, "page_token": token})

    assert "Index" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan
    assert "id >" in plan, plan


def test_a_numbered_page_of_contacts_does_not_join_related_records(auth_client, admin_user):
    client = auth_client(admin_user, READ)
    with CaptureQueriesContext(connection) as captured:
        client.get("/bigin/v2/Contacts", {"page": 3})
    with CaptureQueriesContext(connection) as captured_tasks:
        client.get("/bigin/v2/Tasks", {"page": 3})

    contacts_sql, tasks_sql = captured[-1]["sql"], captured_tasks[-1]["sql"]
    assert contacts_sql.count("JOIN") == 1 and '"crm_user"' in contacts_sql, contacts_sql
    assert tasks_sql.count("JOIN") == 2, tasks_sql


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({"email": "C15000@x.test"}, "record_org_module_email"),
        ({"criteria": "(Email:equals:c77@x.test)"}, "record_org_module_email"),
        ({"phone": "555-42"}, "record_org_module_phone"),
    ],
)
def test_a_search_by_email_or_phone_reads_its_index(owners, auth_client, admin_user, params, index):
    client = auth_client(admin_user, READ, "ZohoSearch.securesearch.READ")

    plan = _plan_of_request(client, params, "/bigin/v2/Contacts/search")

    assert index in plan and "Seq Scan" not in plan, plan


def test_adding_a_contact_checks_its_email_through_the_index(owners, admin_user):
    from crm.record_input import records_with_values

    with CaptureQueriesContext(connection) as captured:
        found = records_with_values(admin_user.organization, CONTACTS, {"Email": {"c9@x.test"}})
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert [row[2] for row in found] == [1000000000000009]
    assert "record_org_module_email" in plan and "Seq Scan" not in plan, plan
