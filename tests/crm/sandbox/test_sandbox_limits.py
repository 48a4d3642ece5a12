"""The sandbox file carries an organization's edition and API credits override
(docs/limits.md), and the admin shows the credits used."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from crm.http import metering
from crm.models import Organization
from crm.sandbox.loader import SandboxError, load

pytestmark = pytest.mark.django_db


def _sandbox(**org_fields) -> dict:
    return {"organizations": [{"id": "10001", "name": "Zylker", **org_fields}]}


def test_edition_and_credits_come_from_the_file_and_default_to_express():
    load(_sandbox(edition="free", api_credits_per_day=30))
    org = Organization.objects.get(pk=10001)
    assert (org.edition, org.api_credits_per_day) == ("free", 30)

    load(_sandbox())  # left out: the defaults again
    org.refresh_from_db()
    assert (org.edition, org.api_credits_per_day) == ("express", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"edition": "enterprise"}, "edition 'enterprise' is not one of free, express, premier"),
        ({"api_credits_per_day": 0}, "api_credits_per_day must be a positive integer or null"),
        ({"api_credits_per_day": "30"}, "api_credits_per_day must be a positive integer or null"),
        ({"api_credits_per_day": True}, "api_credits_per_day must be a positive integer or null"),
    ],
)
def test_a_bad_edition_or_override_is_refused(fields, message):
    with pytest.raises(SandboxError) as error:
        load(_sandbox(**fields))

    assert str(error.value) == f"organizations[0]: {message}"
    assert not Organization.objects.exists()


def test_the_admin_shows_the_credits_used_and_only_a_superuser_sets_the_limits(
    admin_site_client, organization, admin_user, auth_client, make_user
):
    Organization.objects.filter(pk=organization.pk).update(api_credits_per_day=30)
    client = auth_client(admin_user, "ZohoBigin.users.READ")
    for _ in range(3):
        client.get("/bigin/v2/users")

    listing = admin_site_client.get("/admin/crm/organization/")
    page = admin_site_client.get(f"/admin/crm/organization/{organization.pk}/change/")

    assert b"3 of 30" in listing.content and b"3 of 30" in page.content
    assert b'name="api_credits_per_day"' in page.content  # a superuser edits it
    staff = make_user(is_staff=True)
    staff.set_password("pw-for-tests")
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="_organization"))
    admin_site_client.force_login(staff)
    staff_page = admin_site_client.get(f"/admin/crm/organization/{organization.pk}/change/")
    assert staff_page.status_code == 200
    assert b'name="api_credits_per_day"' not in staff_page.content
    assert metering.credits_used(organization) == 3
