"""`python manage.py audit_retention --keep-months N [--dry-run]`: remove the audit rows older
than the last N months (this one included), with a progress bar.

On PostgreSQL a whole month's partition is detached and dropped at a time (no row-by-row DELETE,
no bloat left behind), and the default partition's older rows, if any, are deleted; elsewhere
the rows are deleted month by month. `--dry-run` says what would go and removes nothing.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit import partitions


class Command(BaseCommand):
    help = "Remove audit rows older than the last N months (whole partitions on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep-months",
            type=int,
            required=True,
            help="months kept, this one included (at least 1)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would go, remove nothing"
        )

    def handle(self, *args, **options) -> None:
        keep = options["keep_months"]
        if keep < 1:
            raise CommandError("--keep-months must be at least 1 (this month is always kept).")
        cutoff, expired = partitions.expired(keep_months=keep)
        total = sum(item.rows for item in expired)
        if options["dry_run"]:
            for item in expired:
                self.stdout.write(f"would remove {item.label}: {item.rows:,} rows")
            self.stdout.write(
                f"dry run: {total:,} audit rows before {cutoff} would be removed; nothing changed."
            )
            return
        bar = tqdm(
            expired,
            unit="parts",
            desc="audit retention",
            # The stream under the command's stderr wrapper (which would add a newline per write).
            file=getattr(self.stderr, "_out", sys.stderr),
            dynamic_ncols=True,
        )
        removed = 0
        for item in bar:
            removed += item.remove()
            bar.set_postfix(rows=f"{removed:,}", refresh=False)
        bar.close()
        self.stdout.write(
            f"removed {removed:,} audit rows before {cutoff} ({len(expired)} parts); "
            f"kept {keep} months."
        )
