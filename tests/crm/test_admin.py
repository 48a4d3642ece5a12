from __future__ import annotations

import pytest
from django.contrib import admin as django_admin

from crm.models import Module, Profile, Record, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.set_password("pw-for-tests")
    admin_user.save()
    client.force_login(admin_user)
    return client


def test_record_is_left_to_the_owners_admin():
    # owners/admin/records.py registers Record with the change-owner action; crm must not claim it.
    registered = django_admin.site._registry.get(Record)
    assert registered is None or type(registered).__module__ == "owners.admin.records"


@pytest.mark.parametrize("model", ["organization", "user", "profile", "role", "module"])
def test_changelists_render(staff_client, model):
    assert staff_client.get(f"/admin/crm/{model}/").status_code == 200


def test_user_list_shows_status_profile_and_organization(staff_client, make_user):
    make_user(full_name="Eli Novak", email="eli@zylker.test", status="disabled")
    page = staff_client.get("/admin/crm/user/").content.decode()
    assert "eli@zylker.test" in page
    assert "Disabled" in page
    assert "Administrator" in page
    assert "Zylker" in page


def test_user_is_created_with_an_email_login_and_a_password(staff_client, organization, client):
    profile = Profile.objects.get(organization=organization, name="Standard")
    response = staff_client.post(
        "/admin/crm/user/add/",
        {
            "email": "Chen.Wei@Zylker.test",
            "full_name": "Chen Wei",
            "organization": organization.id,
            "profile": profile.id,
            "status": "active",
            "usable_password": "true",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="chen.wei@zylker.test")
    assert (user.full_name, user.organization, user.profile) == ("Chen Wei", organization, profile)
    assert user.check_password("a-long-enough-password")


def test_user_form_refuses_a_profile_of_another_organization(
    staff_client, make_user, other_organization
):
    # Another user's form: nobody changes their own profile (crm/policy.py).
    user = make_user(email="ben@zylker.test")
    foreign = Profile.objects.get(organization=other_organization, name="Standard")
    response = staff_client.post(
        f"/admin/crm/user/{user.id}/change/",
        {
            "email": user.email,
            "full_name": user.full_name,
            "organization": user.organization_id,
            "status": "active",
            "profile": foreign.id,
            "assignment_alert": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "profile": ["The profile belongs to another organization."]
    }


def test_password_change_uses_the_standard_form(staff_client, make_user):
    user = make_user(email="ben@zylker.test")
    url = f"/admin/crm/user/{user.id}/password/"
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(
        url,
        {
            "usable_password": "true",
            "password1": "another-long-one",
            "password2": "another-long-one",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-one")


def test_a_disabled_user_cannot_log_in_to_the_admin(client, make_user):
    user = make_user(email="eli@zylker.test", status="disabled", is_staff=True)
    user.set_password("pw-for-tests")
    user.save()
    assert not client.login(email="eli@zylker.test", password="pw-for-tests")


def test_modules_are_read_only(staff_client):
    module = Module.objects.get(api_name="Contacts")
    assert staff_client.get("/admin/crm/module/add/").status_code == 403
    page = staff_client.get(f"/admin/crm/module/{module.id}/change/").content.decode()
    assert 'name="_save"' not in page
