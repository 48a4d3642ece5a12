from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from crm.sandbox.loader import SandboxError
from owners.services import load_sandbox


class Command(BaseCommand):
    help = "Load organizations, users and records from a Bigin-shaped JSON sandbox file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")

    def handle(self, *args, file: str, **options) -> None:
        try:
            with open(file, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{file}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
        try:
            # Through the ownership core: a changed owner of an existing record is audited.
            summary = load_sandbox(data)
        except SandboxError as exc:
            raise CommandError(f"{file}: {exc}; nothing was written") from exc
        self.stdout.write(f"Loaded {file}: {summary}")
