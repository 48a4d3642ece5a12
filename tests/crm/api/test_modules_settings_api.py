from __future__ import annotations

import pytest

from crm.models import Module

pytestmark = pytest.mark.django_db

MODULES_BODY = {
    "modules": [
        {
            "api_name": "Contacts",
            "module_name": "Contacts",
            "singular_label": "Contact",
            "plural_label": "Contacts",
            "id": "4876876000000002175",
            "api_supported": True,
        },
        {
            "api_name": "Pipelines",
            "module_name": "Deals",
            "singular_label": "Pipeline",
            "plural_label": "Pipelines",
            "id": "4876876000000002181",
            "api_supported": True,
        },
        {
            "api_name": "Accounts",
            "module_name": "Accounts",
            "singular_label": "Company",
            "plural_label": "Companies",
            "id": "4876876000000002177",
            "api_supported": True,
        },
        {
            "api_name": "Products",
            "module_name": "Products",
            "singular_label": "Product",
            "plural_label": "Products",
            "id": "4876876000000002185",
            "api_supported": True,
        },
        {
            "api_name": "Tasks",
            "module_name": "Tasks",
            "singular_label": "Task",
            "plural_label": "Tasks",
            "id": "4876876000000002193",
            "api_supported": True,
        },
        {
            "api_name": "Events",
            "module_name": "Events",
            "singular_label": "Event",
            "plural_label": "Events",
            "id": "4876876000000002195",
            "api_supported": True,
        },
        {
            "api_name": "Calls",
            "module_name": "Calls",
            "singular_label": "Call",
            "plural_label": "Calls",
            "id": "4876876000000002197",
            "api_supported": True,
        },
    ]
}


@pytest.mark.parametrize("scope", ["ZohoBigin.settings.modules.READ", "ZohoBigin.settings.ALL"])
def test_settings_modules_lists_the_seven_modules(
    admin_user, auth_client, django_assert_num_queries, scope
):
    client = auth_client(admin_user, scope)

    # 1. authentication; the modules themselves are constants (crm/modules.py)
    with django_assert_num_queries(1):
        response = client.get("/bigin/v2/settings/modules")

    assert response.status_code == 200
    assert response.json() == MODULES_BODY


def test_settings_modules_needs_a_settings_scope(admin_user, auth_client):
    response = auth_client(admin_user, "ZohoBigin.modules.READ").get("/bigin/v2/settings/modules")

    assert response.status_code == 401
    assert response.json() == {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "invalid oauth scope to access this URL",
        "status": "error",
    }


def test_settings_modules_ids_match_the_module_rows(admin_user, auth_client):
    rows = {str(m.id): m.api_name for m in Module.objects.all()}
    response = auth_client(admin_user, "ZohoBigin.settings.ALL").get("/bigin/v2/settings/modules")

    assert {m["id"]: m["api_name"] for m in response.json()["modules"]} == rows
