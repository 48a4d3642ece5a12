from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from crm.oauth.grants import issue_grant

from ._lookup import active_user, client_by_client_id, scopes


class Command(BaseCommand):
    help = (
        "Print a grant code (single use, valid 3 minutes) for a user of the client's organization; "
        "exchange it at POST /oauth/v2/token with grant_type=authorization_code."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--user", required=True, help="the user's email or id")
        parser.add_argument(
            "--scope", required=True, help="comma-separated ZohoBigin or ZohoCRM scopes"
        )

    def handle(self, *args, client_id: str, user: str, scope: str, **options) -> None:
        client = client_by_client_id(client_id)
        grantee = active_user(user)
        try:
            code = issue_grant(client=client, user=grantee, scopes=scopes(scope))
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(code)
