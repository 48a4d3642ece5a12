"""One policy for every door (crm/policy.py; api-spec.md, "Where features meet"): each rule
driven through the doors a user has, the API in both dialects with exact bodies, the admin
through its forms, the commands through call_command."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from crm import policy
from crm.models import Profile, User
from owners.models import TransferJob
from tests.factories import UserFactory
from tests.owners.bigin import error

pytestmark = pytest.mark.django_db

DIALECTS = [("/bigin/v2", "ZohoBigin.users.ALL"), ("/crm/v8", "ZohoCRM.users.ALL")]
OFFBOARD = reverse("owners_admin:offboard")


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


def transfer_and_delete(client, prefix, leaving, new_owner, *, path_form=False):
    entry = {"transfer": {"id": str(new_owner.id), "records": True}}
    if path_form:
        url = f"{prefix}/users/{leaving.id}/actions/transfer_and_delete"
    else:
        url, entry = f"{prefix}/users/actions/transfer_and_delete", {"id": str(leaving.id), **entry}
    return client.post(url, {"transfer_and_delete": [entry]}, format="json")


# Offboarding whom: nobody offboards themselves or a superuser; staff accounts are a superuser's

REFUSALS = {
    "self": "a user cannot transfer and delete themselves",
    "superuser": "a superuser cannot be transferred and deleted",
    "staff": "only a superuser can transfer and delete a staff account",
}


@pytest.fixture
def target(request, admin_user, make_user):
    """The user the Administrator Ann Lee tries to offboard."""
    return {
        "self": lambda: admin_user,
        "superuser": lambda: make_user(email="root@zylker.test", is_staff=True, is_superuser=True),
        "staff": lambda: make_user(email="ops@zylker.test", is_staff=True),
    }[request.param]()


@pytest.mark.parametrize(("prefix", "scope"), DIALECTS)
@pytest.mark.parametrize(
    ("target", "message"), [(name, text) for name, text in REFUSALS.items()], indirect=["target"]
)
def test_the_api_refuses_to_offboard_oneself_a_superuser_or_a_staff_account(
    auth_client, admin_user, chen, prefix, scope, target, message
):
    client = auth_client(admin_user, scope)

    response = transfer_and_delete(client, prefix, target, chen)
    on_path = transfer_and_delete(client, prefix, target, chen, path_form=True)

    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {"api_name": "id", "json_path": "$.transfer_and_delete[0].id"},
            message,
        ),
    )
    # The path form names the id where it is: the path's second segment after the version.
    assert (on_path.status_code, on_path.json()) == (
        400,
        error("INVALID_DATA", {"api_name": "id", "resource_path_index": 1}, message),
    )
    assert not TransferJob.objects.exists()
    target.refresh_from_db()
    assert target.status == User.Status.ACTIVE


def test_the_api_refuses_a_dry_run_of_a_refused_offboarding_too(auth_client, admin_user, chen):
    client = auth_client(admin_user, "ZohoBigin.users.ALL")
    response = client.post(
        "/bigin/v2/users/actions/transfer_and_delete",
        {
            "transfer_and_delete": [
                {"id": str(admin_user.id), "transfer": {"id": str(chen.id)}, "dry_run": True}
            ]
        },
        format="json",
    )
    assert (response.status_code, response.json().get("message")) == (400, REFUSALS["self"])


def test_a_superuser_offboards_a_staff_account_through_the_api(auth_client, make_user, chen):
    root = make_user(email="root@zylker.test", is_staff=True, is_superuser=True)
    staff = make_user(email="ops@zylker.test", is_staff=True)
    response = transfer_and_delete(
        auth_client(root, "ZohoBigin.users.ALL"), "/bigin/v2", staff, chen
    )
    assert response.status_code == 202


@pytest.fixture
def superuser_client(admin_site_client):
    return admin_site_client  # Ann Lee, made a staff superuser


@pytest.mark.parametrize(
    ("leaving", "message"),
    [
        ("self", policy.OffboardingRefusal.SELF.value),
        ("other", policy.OffboardingRefusal.SUPERUSER.value),
    ],
)
def test_the_admin_refuses_to_offboard_oneself_or_a_superuser_even_to_a_superuser(
    superuser_client, admin_user, make_user, chen, leaving, message
):
    other = make_user(email="root@zylker.test", is_staff=True, is_superuser=True)
    leaving_user = admin_user if leaving == "self" else other

    response = superuser_client.post(
        OFFBOARD, {"leaving_user": leaving_user.id, "new_owner": chen.id, "confirm": "1"}
    )

    assert response.context["form"].non_field_errors() == [message]
    assert not TransferJob.objects.exists()


# Editing users: nobody changes their own profile or status in the admin


def _user_form(user: User, **changes) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "status": user.status,
        "profile": user.profile_id,
        "assignment_alert": "on",
        **changes,
    }


@pytest.fixture
def staff_standard(organization):
    """A staff user of Zylker with the Standard profile whom Django lets change users."""
    staff = UserFactory(
        organization=organization,
        email="sam@zylker.test",
        full_name="Sam Staff",
        is_staff=True,
        profile_name="Standard",
    )
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    return staff


def test_a_staff_user_cannot_raise_their_own_profile_or_status_in_the_admin(
    organization, staff_standard
):
    client = Client()
    client.force_login(staff_standard)
    url = reverse("admin:crm_user_change", args=[staff_standard.id])
    administrator = Profile.objects.get(organization=organization, name="Administrator")

    form = client.get(url).context["adminform"].form
    response = client.post(
        url,
        _user_form(
            staff_standard, full_name="Sam Boss", profile=administrator.id, status="disabled"
        ),
    )

    assert response.status_code == 302  # saved: what Sam may change, and nothing else
    staff_standard.refresh_from_db()
    assert (staff_standard.profile.name, staff_standard.status) == ("Standard", "active")
    assert staff_standard.full_name == "Sam Boss"
    assert not {"profile", "status"} & set(form.fields)


def test_a_superuser_cannot_change_their_own_profile_or_status_either(
    admin_site_client, admin_user, organization
):
    read_only = Profile.objects.get(organization=organization, name="Read Only")
    url = reverse("admin:crm_user_change", args=[admin_user.id])

    response = admin_site_client.post(
        url,
        _user_form(
            admin_user,
            profile=read_only.id,
            status="disabled",
            organization=organization.id,
            is_staff="on",
            is_superuser="on",
        ),
    )

    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert (admin_user.profile.name, admin_user.status) == ("Administrator", "active")


def test_staff_still_change_another_users_profile_and_status(
    organization, staff_standard, make_user
):
    colleague = make_user(email="dan@zylker.test", profile_name="Read Only")
    standard = Profile.objects.get(organization=organization, name="Standard")
    client = Client()
    client.force_login(staff_standard)

    response = client.post(
        reverse("admin:crm_user_change", args=[colleague.id]),
        _user_form(colleague, profile=standard.id, status="disabled"),
    )

    assert response.status_code == 302
    colleague.refresh_from_db()
    assert (colleague.profile.name, colleague.status) == ("Standard", "disabled")


# Records go to active users: the command asks the same policy


def test_the_transfer_records_command_gives_records_to_active_users_only(make_user, chen):
    leaving = make_user(email="lea@zylker.test")
    User.objects.filter(id=chen.id).update(status=User.Status.DISABLED)
    with pytest.raises(CommandError, match="records go to active users"):
        call_command("transfer_records", "--from", leaving.email, "--to", chen.email)
    assert not TransferJob.objects.exists()


def test_the_policy_names_the_offboarding_operation_as_the_owners_app_does():
    # crm/ cannot import owners/ or audit/: the policy names the operation by its value.
    from audit.models import AuditEntry

    assert policy.OFFBOARDING == TransferJob.Kind.OFFBOARDING == AuditEntry.Source.OFFBOARDING
