from __future__ import annotations

import shlex

from django.core.management.base import BaseCommand

from crm.models import Record, User
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from crm.sandbox import demo

DEMO_SCOPES = [
    "ZohoBigin.change_owner.CREATE",
    "ZohoBigin.modules.ALL",
    "ZohoBigin.users.READ",
    "ZohoBigin.settings.ALL",
]


class Command(BaseCommand):
    help = (
        "Print a working token for the demo administrator and a ready curl line (used by make run)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, host: str, port: str, **options) -> None:
        admin = User.objects.get(email=demo.ADMIN_EMAIL)
        token = issue_access_token(user=admin, scopes=DEMO_SCOPES)
        new_owner = User.objects.get(organization=admin.organization, full_name="Chen Wei")
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
        base = f"http://{host}:{port}"
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
                    "",
                ]
            )
        )
