from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from crm.models import Record, User
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from crm.sandbox import demo

# Every endpoint of the demo, so Swagger UI's "Try it out" works with this token on each
# (tests/crm/http/test_openapi_examples.py sends every operation with it).
DEMO_SCOPES = [
    "ZohoBigin.change_owner.ALL",
    "ZohoBigin.modules.ALL",
    "ZohoBigin.users.ALL",
    "ZohoBigin.settings.ALL",
    "ZohoBigin.org.ALL",
    # Record search needs it besides the module scope.
    "ZohoSearch.securesearch.READ",
]


class Command(BaseCommand):
    help = (
        "Print a working token for the demo administrator and a ready curl line (used by make run)."
    )

    def add_arguments(self, parser) -> None:
        # Without them, the address of API_DOMAIN: the one `make run` serves (its .env).
        parser.add_argument("--host", help="default: the host of API_DOMAIN")
        parser.add_argument("--port", help="default: the port of API_DOMAIN")

    def handle(self, *args, host: str | None, port: str | None, **options) -> None:
        admin = User.objects.get(email=demo.ADMIN_EMAIL)
        token = issue_access_token(user=admin, scopes=DEMO_SCOPES)
        new_owner = User.objects.get(
            organization=admin.organization, full_name=demo.EXAMPLE_NEW_OWNER
        )
        ids = list(
            Record.objects.filter(
                organization=admin.organization, module_id=module_by_name("Contacts").id
            )
            .order_by("id")
            .values_list("id", flat=True)[:3]
        )
        body = (
            '{"ids": [' + ", ".join(f'"{i}"' for i in ids) + "], "
            f'"owner": {{"id": "{new_owner.id}"}}, "notify": true, '
            '"related_modules": [{"api_name": "Tasks"}, {"api_name": "Calls"}]}'
        )
        served = urlsplit(settings.API_DOMAIN)
        host, port = host or served.hostname, port or served.port
        base = f"{served.scheme}://{host}" + (f":{port}" if port else "")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Demo administrator: {admin.email} (admin at {base}/admin/)",
                    f"Access token (1 hour, scopes {','.join(DEMO_SCOPES)}):",
                    f"  {token}",
                    "Change the owner of three contacts to Chen Wei:",
                    f"  curl -s -X POST {base}/bigin/v2/Contacts/actions/change_owner \\",
                    f"    -H 'Authorization: Zoho-oauthtoken {token}' \\",
                    "    -H 'Content-Type: application/json' \\",
                    f"    -d {shlex.quote(body)}",
                    *(
                        [
                            "Sandbox controls (docs/sandbox.md) under /sandbox/v1 with the header",
                            f"  X-Sandbox-Key: {settings.SANDBOX_API_KEY}",
                        ]
                        if settings.SANDBOX_API
                        else []
                    ),
                    "",
                ]
            )
        )
