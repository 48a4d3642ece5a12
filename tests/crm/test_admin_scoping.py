"""Staff who are not superusers administer their own organization only, on every admin page.

Gus is staff of Nimbus with every crm, audit and owners model permission; Zylker's rows (each
one with "zylker" in a name, an email or its organization) must never reach him, in the lists,
their filters, the change pages, the form choices or the actions.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from crm.models import (
    AccessToken,
    GrantCode,
    OAuthClient,
    Organization,
    Profile,
    Record,
    RefreshToken,
    Role,
    User,
)
from crm.modules import module_by_name
from crm.oauth import grants
from owners.services import change_owner
from tests.factories import RecordFactory, UserFactory

pytestmark = pytest.mark.django_db


def populate(organization: Organization, user: User, prefix: str) -> None:
    """A role, a profile, a record with an audited change of owner, a client, tokens and a
    grant code."""
    Role.objects.create(organization=organization, name=f"{prefix} Sales")
    Profile.objects.create(organization=organization, name=f"{prefix} Auditor")
    record = RecordFactory(organization=organization, owner=user, name=f"{prefix} deal")
    colleague = UserFactory(organization=organization, email=f"rep@{prefix.lower()}.test")
    change_owner(
        organization=organization,
        actor=user,
        module=module_by_name("Contacts"),
        record_ids=[record.id],
        new_owner=colleague,
        source="api",
    )
    created = grants.create_self_client(organization=organization, name=f"{prefix} sync")
    scopes = ["ZohoBigin.users.READ"]
    code = grants.issue_grant(client=created.client, user=user, scopes=scopes)
    grants.issue_grant(client=created.client, user=user, scopes=scopes)  # stays a grant code
    grants.exchange_code(
        client_id=created.client.client_id, client_secret=created.client_secret, code=code
    )


@pytest.fixture
def zylker(organization, admin_user):
    populate(organization, admin_user, "Zylker")
    return organization


@pytest.fixture
def gus(other_organization):
    gus = UserFactory(
        organization=other_organization,
        full_name="Gus Harper",
        email="gus@nimbus.test",
        is_staff=True,
    )
    gus.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["crm", "audit", "owners"])
    )
    populate(other_organization, gus, "Nimbus")
    return gus


@pytest.fixture
def gus_client(gus, zylker):
    client = Client()  # not pytest-django's `client`, which admin_site_client logs in as Ann
    client.force_login(gus)
    return client


def first_of(model, organization: Organization):
    """One row of `model` belonging to `organization`."""
    lookup = {
        Organization: "id",
        User: "organization",
        Profile: "organization",
        Role: "organization",
        Record: "organization",
        AuditEntry: "organization",
        OAuthClient: "organization",
        RefreshToken: "user__organization",
        AccessToken: "user__organization",
        GrantCode: "user__organization",
    }[model]
    return model.objects.filter(**{lookup: organization.id}).order_by("pk").first()


SCOPED_MODELS = [
    Organization,
    User,
    Profile,
    Role,
    Record,
    AuditEntry,
    OAuthClient,
    RefreshToken,
    AccessToken,
    GrantCode,
]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m._meta.model_name)
def test_the_changelist_lists_and_filters_only_the_staff_users_organization(
    gus_client, other_organization, model
):
    response = gus_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    listed = list(response.context["cl"].result_list)
    assert listed and first_of(model, other_organization) in listed
    assert {_organization_id(row) for row in listed} == {other_organization.id}
    # Nor in a filter's choices, a column or anywhere else on the page.
    assert "zylker" not in response.content.decode().lower()


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m._meta.model_name)
def test_another_organizations_change_page_is_missing(
    gus_client, zylker, other_organization, model
):
    theirs = gus_client.get(admin_url(model, "change", first_of(model, zylker).pk))
    ours = gus_client.get(admin_url(model, "change", first_of(model, other_organization).pk))

    # Django's answer for a missing id: back to the index, saying it doesn't exist.
    assert (theirs.status_code, theirs.url) == (302, reverse("admin:index"))
    assert ours.status_code == 200


def test_only_a_superuser_adds_an_organization(gus_client, admin_site_client):
    assert gus_client.post(admin_url(Organization, "add"), {"name": "Gus Inc"}).status_code == 403
    assert admin_site_client.get(admin_url(Organization, "add")).status_code == 200
    assert not Organization.objects.filter(name="Gus Inc").exists()


def test_another_organizations_user_cannot_be_given_a_password_or_deleted(gus_client, admin_user):
    password_url = f"/admin/crm/user/{admin_user.pk}/password/"
    password = gus_client.post(
        password_url,
        {"usable_password": "true", "password1": "taken-over-1", "password2": "taken-over-1"},
    )
    delete = gus_client.post(admin_url(User, "delete", admin_user.pk), {"post": "yes"})

    assert password.status_code == 404
    assert (delete.status_code, delete.url) == (302, reverse("admin:index"))
    admin_user.refresh_from_db()
    assert not admin_user.check_password("taken-over-1")


def test_staff_of_the_same_organization_are_a_superusers_to_manage(gus_client, other_organization):
    boss = UserFactory(organization=other_organization, is_staff=True, is_superuser=True)
    boss.set_password("the-boss-password")
    boss.save()
    colleague = UserFactory(organization=other_organization)

    take_over = gus_client.post(
        f"/admin/crm/user/{boss.pk}/password/",
        {"usable_password": "true", "password1": "taken-over-1", "password2": "taken-over-1"},
    )
    boss_page = gus_client.get(admin_url(User, "change", boss.pk))

    assert take_over.status_code == 403
    boss.refresh_from_db()
    assert boss.check_password("the-boss-password")
    assert 'name="_save"' not in boss_page.content.decode()  # shown, read-only
    # A user who is not staff is Gus's to manage.
    assert gus_client.get(f"/admin/crm/user/{colleague.pk}/password/").status_code == 200


def test_a_staff_user_cannot_make_itself_superuser_or_move_itself(gus_client, gus, zylker):
    change_url = admin_url(User, "change", gus.pk)
    form = gus_client.get(change_url).context["adminform"].form
    assert not {"is_superuser", "is_staff", "groups", "user_permissions", "organization"} & set(
        form.fields
    )

    forged = gus_client.post(
        change_url,
        {
            "email": gus.email,
            "full_name": "Gus the Great",
            "status": "active",
            "profile": gus.profile_id,
            "assignment_alert": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "organization": zylker.id,
            "user_permissions": list(Permission.objects.values_list("pk", flat=True)),
        },
    )

    assert forged.status_code == 302  # saved: what Gus may change, and nothing else
    gus.refresh_from_db()
    assert gus.full_name == "Gus the Great"
    assert (gus.is_superuser, gus.organization_id) == (False, gus.profile.organization_id)
    assert (
        gus.user_permissions.count()
        == Permission.objects.filter(content_type__app_label__in=["crm", "audit", "owners"]).count()
    )


def test_the_add_user_form_offers_only_the_staff_users_organization(
    gus_client, zylker, other_organization
):
    form = gus_client.get(admin_url(User, "add")).context["adminform"].form
    assert list(form.fields["organization"].queryset) == [other_organization]
    assert {p.organization_id for p in form.fields["profile"].queryset} == {other_organization.id}
    assert {r.organization_id for r in form.fields["role"].queryset} == {other_organization.id}

    forged = gus_client.post(
        admin_url(User, "add"),
        {
            "email": "mole@zylker.test",
            "full_name": "Mole",
            "organization": zylker.id,
            "profile": Profile.objects.get(organization=zylker, name="Administrator").id,
            "status": "active",
            "usable_password": "false",
        },
    )

    assert forged.status_code == 200
    assert set(forged.context["adminform"].form.errors) == {"organization", "profile"}
    assert not User.objects.filter(email="mole@zylker.test").exists()


@pytest.mark.parametrize("model", [RefreshToken, AccessToken], ids=lambda m: m._meta.model_name)
def test_the_revoke_action_ignores_another_organizations_tokens(
    gus_client, zylker, other_organization, model
):
    theirs = first_of(model, zylker)
    ours = first_of(model, other_organization)

    response = gus_client.post(
        admin_url(model, "changelist"),
        {"action": "revoke", "index": 0, "_selected_action": [theirs.pk, ours.pk]},
    )

    assert response.status_code == 302
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert theirs.revoked_at is None
    assert ours.revoked_at is not None
    live_for_zylker = AccessToken.objects.filter(user__organization=zylker, revoked_at__isnull=True)
    assert live_for_zylker.exists()


def test_a_superuser_still_sees_every_organization(admin_site_client, zylker, gus):
    for model in SCOPED_MODELS:
        listed = admin_site_client.get(admin_url(model, "changelist")).context["cl"].result_list
        assert {_organization_id(row) for row in listed} == {zylker.id, gus.organization_id}


def _organization_id(row) -> int:
    if isinstance(row, Organization):
        return row.id
    if hasattr(row, "organization_id"):
        return row.organization_id
    return row.user.organization_id


def test_only_a_superuser_manages_groups(gus, gus_client, admin_site_client):
    gus.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    group = Group.objects.create(name="Nimbus reps")
    gus.groups.add(group)

    assert gus_client.get(reverse("admin:auth_group_changelist")).status_code == 403
    forged = gus_client.post(
        reverse("admin:auth_group_change", args=[group.id]),
        {"name": "Nimbus reps", "permissions": [Permission.objects.get(codename="add_group").id]},
    )
    assert forged.status_code == 403
    assert not group.permissions.exists()
    assert admin_site_client.get(reverse("admin:auth_group_changelist")).status_code == 200
