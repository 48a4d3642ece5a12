from __future__ import annotations

from django.core.management.base import BaseCommand

from crm.oauth.grants import create_self_client

from ._lookup import organization_by_id_or_name


class Command(BaseCommand):
    help = (
        "Create a self client: prints the client id on line 1 and the client secret on line 2. "
        "The secret is stored hashed and can't be shown again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="the organization's id or name")
        parser.add_argument("--name", required=True, help="a name for the client")

    def handle(self, *args, org: str, name: str, **options) -> None:
        created = create_self_client(organization=organization_by_id_or_name(org), name=name)
        self.stdout.write(f"{created.client.client_id}\n{created.client_secret}")
