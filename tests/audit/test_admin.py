"""The audit admin: read-only for everyone, superusers included; filters and exact search."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from crm.modules import module_by_name
from owners.services import change_owner
from tests.conftest import ADMIN_PASSWORD
from tests.factories import RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:audit_auditentry_changelist")


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test")


@pytest.fixture
def changes(organization, admin_user, make_record, chen):
    """Two batches: the API gives two contacts to Chen, the admin gives one back to Ann."""
    contacts = module_by_name("Contacts")
    records = [make_record(), make_record()]
    first = change_owner(
        organization=organization,
        actor=admin_user,
        module=contacts,
        record_ids=[r.id for r in records],
        new_owner=chen,
        source="api",
    )
    second = change_owner(
        organization=organization,
        actor=admin_user,
        module=contacts,
        record_ids=[records[0].id],
        new_owner=admin_user,
        source="admin",
    )
    return records, first, second


def listed(response) -> list[tuple[int, str]]:
    return [(e.record_id, e.source) for e in response.context["cl"].result_list]


def test_the_audit_admin_rejects_add_change_and_delete_even_for_a_superuser(
    admin_site_client, changes
):
    entry = AuditEntry.objects.order_by("id").first()
    change_url = reverse("admin:audit_auditentry_change", args=[entry.id])
    delete_url = reverse("admin:audit_auditentry_delete", args=[entry.id])

    assert admin_site_client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert admin_site_client.post(reverse("admin:audit_auditentry_add"), {}).status_code == 403
    assert admin_site_client.post(change_url, {"source": "api"}).status_code == 403
    assert admin_site_client.get(delete_url).status_code == 403
    assert admin_site_client.post(delete_url, {"post": "yes"}).status_code == 403
    # Viewing is allowed, and the list offers no bulk delete.
    assert admin_site_client.get(change_url).status_code == 200
    page = admin_site_client.get(CHANGELIST)
    assert page.context["action_form"] is None
    assert AuditEntry.objects.count() == 3
    entry.refresh_from_db()
    assert entry.source == "api"


def test_staff_without_model_permissions_can_view_their_organizations_audit_only(
    client, organization, other_organization, changes
):
    staff = UserFactory(organization=organization, is_staff=True)
    staff.set_password(ADMIN_PASSWORD)
    staff.save()
    outsider_record = RecordFactory(organization=other_organization)
    change_owner(
        organization=other_organization,
        actor=None,
        module=module_by_name("Contacts"),
        record_ids=[outsider_record.id],
        new_owner=UserFactory(organization=other_organization),
        source="api",
    )
    client.login(email=staff.email, password=ADMIN_PASSWORD)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert {e.organization_id for e in response.context["cl"].result_list} == {organization.id}
    assert len(response.context["cl"].result_list) == 3
    # Granting every audit permission changes nothing: writes are refused for all.
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="audit"))
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403


def test_search_by_record_id_and_by_batch_id(admin_site_client, changes):
    records, first, _second = changes

    by_record = admin_site_client.get(CHANGELIST, {"q": str(records[0].id)})
    by_batch = admin_site_client.get(CHANGELIST, {"q": str(first.batch_id)})
    by_other = admin_site_client.get(CHANGELIST, {"q": "Chen"})

    assert sorted(listed(by_record)) == [(records[0].id, "admin"), (records[0].id, "api")]
    assert sorted(listed(by_batch)) == sorted([(records[0].id, "api"), (records[1].id, "api")])
    assert listed(by_other) == []


def test_filters_by_source_actor_and_new_owner(admin_site_client, admin_user, chen, changes):
    records, _first, second = changes

    by_source = admin_site_client.get(CHANGELIST, {"source__exact": "admin"})
    by_new_owner = admin_site_client.get(CHANGELIST, {"new_owner__id__exact": chen.id})
    by_actor = admin_site_client.get(CHANGELIST, {"actor__id__exact": admin_user.id})

    assert listed(by_source) == [(records[0].id, "admin")]
    assert sorted(listed(by_new_owner)) == sorted([(r.id, "api") for r in records])
    assert len(listed(by_actor)) == 3
    body = by_source.content.decode()
    assert str(second.batch_id) in body


def test_the_audit_changelist_costs_a_fixed_number_of_queries(
    admin_site_client, organization, admin_user, chen, make_record, django_assert_num_queries
):
    records = [make_record() for _ in range(30)]
    change_owner(
        organization=organization,
        actor=admin_user,
        module=module_by_name("Contacts"),
        record_ids=[r.id for r in records],
        new_owner=chen,
        source="admin",
    )

    # 1 session, 2 user, 3-5 the choices of the organization, actor and new owner filters,
    # 6 COUNT(*), 7 the page with organization, module and the three users JOINed.
    with django_assert_num_queries(7):
        response = admin_site_client.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 30


def test_the_list_names_the_organization_for_superusers_only_and_has_no_sidebar(
    admin_site_client, organization, changes
):
    staff = UserFactory(organization=organization, is_staff=True)
    client = Client()
    client.force_login(staff)

    superuser_page = admin_site_client.get(CHANGELIST)
    staff_page = client.get(CHANGELIST)

    columns = [
        "time",
        "module",
        "record_link",
        "previous_owner_name",
        "new_owner_name",
        "actor_name",
        "source",
        "batch_link",
    ]
    assert list(superuser_page.context["cl"].list_display) == ["time", "organization", *columns[1:]]
    assert list(staff_page.context["cl"].list_display) == columns
    assert superuser_page.context["is_nav_sidebar_enabled"] is False
    assert 'id="nav-sidebar"' not in staff_page.content.decode()
