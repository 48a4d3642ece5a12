from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from crm.oauth.grants import ACCESS_TOKEN_LIFETIME, issue_access_token

from ._lookup import active_user, scopes


class Command(BaseCommand):
    help = (
        "Print one access token, and nothing else, for an active user (SCOPES comma-separated). "
        "The user's profile is still checked on every request."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="the user's email or id")
        parser.add_argument(
            "--scope",
            required=True,
            help="comma-separated ZohoBigin or ZohoCRM scopes, e.g. ZohoBigin.change_owner.CREATE",
        )
        parser.add_argument(
            "--expires-in",
            type=int,
            default=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            help="lifetime in seconds (default 3600)",
        )

    def handle(self, *args, user: str, scope: str, expires_in: int, **options) -> None:
        if expires_in <= 0:
            raise CommandError("--expires-in must be a positive number of seconds.")
        token = issue_access_token(
            user=active_user(user), scopes=scopes(scope), expires_in=timedelta(seconds=expires_in)
        )
        self.stdout.write(token)
