from __future__ import annotations

from django.core.management.base import BaseCommand

from crm.models import User
from crm.sandbox import demo
from owners.services import load_sandbox


class Command(BaseCommand):
    help = (
        "Create what is missing of the bundled demo sandbox; existing organizations, users and "
        "records (their owners included) stay as they are."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--admin-password",
            help="Make the demo administrator a staff superuser with this password (for /admin/).",
        )

    def handle(self, *args, admin_password: str | None = None, **options) -> None:
        # `make run` calls this on every start: never hand a record back to its demo owner.
        summary = load_sandbox(demo.build(), create_only=True)
        self.stdout.write(f"Demo sandbox: {summary}")
        if admin_password:
            admin = User.objects.get(email=demo.ADMIN_EMAIL)
            # Save only when something differs, so running it again changes nothing.
            if not (admin.is_staff and admin.is_superuser and admin.check_password(admin_password)):
                admin.is_staff = admin.is_superuser = True
                admin.set_password(admin_password)
                admin.save()
            self.stdout.write(f"Admin login: {demo.ADMIN_EMAIL}")
