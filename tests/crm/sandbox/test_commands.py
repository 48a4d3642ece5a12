from __future__ import annotations

import re
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from crm.models import AccessToken, Organization, Record, User
from crm.modules import MODULES
from crm.oauth.tokens import token_hash
from crm.sandbox import demo
from tests.crm.sandbox.test_sandbox import snapshot

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_loads_two_organizations_of_mixed_users_and_all_seven_modules():
    run("seed_demo")

    assert sorted(Organization.objects.values_list("name", flat=True)) == [
        "Nimbus Retail",
        "Zylker",
    ]
    users = User.objects.all()
    assert users.count() == 8
    assert Counter(users.values_list("status", flat=True)) == {
        "active": 6,
        "disabled": 1,
        "deleted": 1,
    }
    assert Counter(users.values_list("profile__name", flat=True)) == {
        "Administrator": 2,
        "Standard": 5,
        "Read Only": 1,
    }
    per_module = dict(
        Record.objects.values_list("module__api_name").annotate(n=Count("id")).order_by()
    )
    assert set(per_module) == {m.api_name for m in MODULES}
    assert all(count > 0 for count in per_module.values())
    assert 200 <= sum(per_module.values()) <= 1_000
    # Every activity hangs off a contact or a pipeline of its own organization, and only
    # activities do.
    activities = Record.objects.filter(module__is_activity=True)
    assert not activities.filter(related_to=None).exists()
    assert set(activities.values_list("related_to__module__api_name", flat=True)) == {
        "Contacts",
        "Pipelines",
    }
    assert not Record.objects.filter(module__is_activity=False, related_to__isnull=False).exists()
    for record in activities.select_related("related_to", "owner"):
        assert record.related_to.organization_id == record.organization_id
        assert record.owner.organization_id == record.organization_id
    # Demo records belong to people who can own them.
    assert set(Record.objects.values_list("owner__status", flat=True)) == {"active"}


def test_seed_demo_twice_changes_nothing():
    run("seed_demo", "--admin-password", "zylker-demo")
    before = snapshot()

    output = run("seed_demo", "--admin-password", "zylker-demo")

    assert snapshot() == before
    assert (
        "organizations: 0 created, 0 updated; users: 0 created, 0 updated; records: 0 created"
        in output
    )


def test_seed_demo_admin_password_makes_the_demo_administrator_a_superuser():
    run("seed_demo", "--admin-password", "zylker-demo")
    admin = User.objects.get(email=demo.ADMIN_EMAIL)
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("zylker-demo")


@pytest.mark.parametrize(
    ("api_domain", "args", "base"),
    [
        ("http://127.0.0.1:8101", [], "http://127.0.0.1:8101"),
        ("http://127.0.0.1:8101", ["--port", "8102"], "http://127.0.0.1:8102"),
        ("https://crm.example.test", [], "https://crm.example.test"),
    ],
)
def test_demo_banner_names_the_address_of_api_domain_by_default(settings, api_domain, args, base):
    """`make run` keeps API_DOMAIN (its .env) equal to the address it serves on."""
    settings.API_DOMAIN = api_domain
    run("seed_demo")

    output = run("demo_banner", *args)

    assert f"(admin at {base}/admin/)" in output
    assert f"curl -s -X POST {base}/bigin/v2/Contacts/actions/change_owner" in output


def test_demo_banner_prints_a_working_token_and_a_curl_line_for_three_contacts():
    run("seed_demo")

    output = run("demo_banner", "--host", "127.0.0.1", "--port", "8011")

    token = re.search(r"Zoho-oauthtoken (1000\.[0-9a-f]{32}\.[0-9a-f]{32})", output).group(1)
    access = AccessToken.objects.get(token_hash=token_hash(token))
    assert access.user.email == demo.ADMIN_EMAIL
    # Every endpoint's scope family, .ALL: change owner, the job reads, users, records, metadata;
    # and the one search needs besides.
    assert access.scopes == [
        "ZohoBigin.change_owner.ALL",
        "ZohoBigin.modules.ALL",
        "ZohoBigin.users.ALL",
        "ZohoBigin.settings.ALL",
        "ZohoBigin.org.ALL",
        "ZohoSearch.securesearch.READ",
    ]
    assert "curl -s -X POST http://127.0.0.1:8011/bigin/v2/Contacts/actions/change_owner" in output
    ids = re.search(r'"ids": \[([^\]]*)\]', output).group(1)
    contact_ids = [int(i.strip(' "')) for i in ids.split(",")]
    assert len(contact_ids) == 3
    assert (
        Record.objects.filter(
            id__in=contact_ids,
            module__api_name="Contacts",
            organization__name="Zylker",
        ).count()
        == 3
    )
    chen = User.objects.get(full_name="Chen Wei")
    assert f'"owner": {{"id": "{chen.id}"}}' in output


def test_demo_banner_prints_the_sandbox_key_when_the_controls_are_on(settings):
    run("seed_demo")
    assert "X-Sandbox-Key" not in run("demo_banner")

    settings.SANDBOX_API, settings.SANDBOX_API_KEY = True, "k" * 32
    output = run("demo_banner")

    assert output.rstrip().endswith(f"X-Sandbox-Key: {'k' * 32}")
    assert "Sandbox controls (docs/sandbox.md) under /sandbox/v1 with the header" in output
