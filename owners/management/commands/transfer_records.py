"""`python manage.py transfer_records --from EMAIL --to EMAIL [--module M] [--criteria JSON]
[--dry-run]`: give one user's records to another as a transfer job, and follow it with a
live progress bar until it finishes. `--job ID` follows a job; `--retry ID` runs the chunks of a
FAILED job that did not get done again, and follows it.

Ctrl-C stops following, not the job: the workers go on, and the command says how to follow it.
Without a broker (`make run`'s default) the job runs in this process before the bar appears.
"""

from __future__ import annotations

import json
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crm import policy
from crm.http.errors import ApiError
from crm.ids import parse_id
from crm.management.commands._lookup import user_by_email_or_id
from crm.models import Organization
from crm.modules import ModuleInfo, module_by_name
from owners.models import OutboxEntry, TransferJob
from owners.transfers import engine
from owners.transfers.criteria import parse_criteria
from owners.transfers.selection import offboarding_modules

FINISHED = (TransferJob.Status.COMPLETED, TransferJob.Status.FAILED)


class Command(BaseCommand):
    help = "Transfer one user's records to another (a job on the workers), with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="from_user", help="email or id of the current owner")
        parser.add_argument("--to", dest="to_user", help="email or id of the new owner")
        parser.add_argument("--module", help="only this module (default: every module)")
        parser.add_argument(
            "--criteria", help="Zoho CRM criteria JSON the records must match as well"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
        parser.add_argument("--job", help="follow this job id")
        parser.add_argument("--retry", help="retry this FAILED job id, and follow it")
        parser.add_argument(
            "--poll", type=float, default=0.5, help="seconds between progress reads (0.5)"
        )

    def handle(self, *args, **options) -> None:
        if options["retry"]:
            transfer = self._retry(options["retry"])
        elif options["job"]:
            transfer = self._resume(options["job"])
        else:
            transfer = self._schedule(options)
            if transfer is None:
                return
        self._follow(transfer, options["poll"])

    def _schedule(self, options) -> TransferJob | None:
        if not options["from_user"] or not options["to_user"]:
            raise CommandError("--from and --to are required (or --job ID, or --retry ID).")
        from_user = user_by_email_or_id(options["from_user"])
        new_owner = user_by_email_or_id(options["to_user"])
        if new_owner.organization_id != from_user.organization_id:
            raise CommandError("--from and --to must be users of the same organization.")
        if new_owner.id == from_user.id:
            raise CommandError("--from and --to are the same user.")
        if not policy.may_own_records(new_owner.status):
            raise CommandError(
                f"{new_owner.email} is {new_owner.status}: records go to active users."
            )
        module = None
        if options["module"]:
            module = module_by_name(options["module"])
            if module is None:
                raise CommandError(f"No module {options['module']!r}.")
        criteria = self._criteria(
            options["criteria"],
            organization=from_user.organization,
            modules=[module] if module else offboarding_modules(),
        )
        common = {
            "organization": from_user.organization,
            "from_user": from_user,
            "new_owner": new_owner,
            "module": module,
            "criteria": criteria,
        }
        if options["dry_run"]:
            result = engine.dry_run_transfer_records(**common)
            for name, count in result.per_module.items():
                self.stdout.write(f"{name:<10} {count:>10,}")
            self.stdout.write(
                f"{'total':<10} {result.total_count:>10,}  (dry run: nothing changed)"
            )
            return None
        transfer = engine.schedule_transfer_records(actor=None, **common)
        self.stdout.write(
            f"Job {transfer.id} scheduled: {transfer.total_count:,} records of {from_user.email}"
            f" to {new_owner.email} (batch {transfer.batch_id})."
        )
        return transfer

    def _criteria(self, text: str | None, *, organization: Organization, modules: list[ModuleInfo]):
        if not text:
            return None
        try:
            return parse_criteria(json.loads(text), organization=organization, modules=modules)
        except json.JSONDecodeError as error:
            raise CommandError(f"--criteria is not JSON: {error}") from None
        except ApiError as error:
            raise CommandError(f"--criteria: {error.kind.code} {error.details}") from None

    def _job(self, raw: str) -> TransferJob:
        job_id = parse_id(raw)
        transfer = TransferJob.objects.filter(id=job_id).first() if job_id else None
        if transfer is None:
            raise CommandError(f"No job {raw!r}.")
        return transfer

    def _retry(self, raw: str) -> TransferJob:
        transfer = self._job(raw)
        if transfer.status != TransferJob.Status.FAILED:
            raise CommandError(
                f"Job {transfer.id} is {transfer.status}: only a failed job is retried."
            )
        engine.retry_transfer(organization=transfer.organization, transfer_id=transfer.id)
        self.stdout.write(f"Job {transfer.id} failed before: the chunks not done run again.")
        self._run_here(transfer)
        return transfer

    def _resume(self, raw: str) -> TransferJob:
        transfer = self._job(raw)
        self._run_here(transfer)
        return transfer

    def _run_here(self, transfer: TransferJob) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # No broker and no workers: this process runs what is left.
            from owners import tasks

            for job in OutboxEntry.objects.filter(
                batch_id=transfer.batch_id, status=OutboxEntry.Status.PENDING
            ).order_by("created_time"):
                tasks.run_entry(job.id)

    def _follow(self, transfer: TransferJob, poll: float) -> None:
        bar = tqdm(
            total=transfer.total_count,
            unit="records",
            unit_scale=True,
            desc=f"job {transfer.id}",
            # The stream under the command's stderr wrapper (which would add a newline per write).
            file=getattr(self.stderr, "_out", sys.stderr),
            dynamic_ncols=True,
        )
        try:
            while True:
                transfer.refresh_from_db()
                done = transfer.updated_count + transfer.skipped_count + transfer.failed_count
                bar.total = max(transfer.total_count, done)
                bar.n = done
                bar.set_postfix(
                    status=transfer.status,
                    moved=f"{transfer.updated_count:,}",
                    skipped=f"{transfer.skipped_count:,}",
                    failed=f"{transfer.failed_count:,}",
                    refresh=False,
                )
                bar.refresh()
                if transfer.status in FINISHED:
                    break
                time.sleep(poll)
        except KeyboardInterrupt:
            bar.close()
            self.stderr.write(
                f"\nStopped following. Job {transfer.id} keeps running on the workers; follow it"
                f" with:\n  python manage.py transfer_records --job {transfer.id}"
            )
            return
        bar.close()
        cancelled = " (cancelled)" if transfer.cancelled else ""
        self.stdout.write(
            f"Job {transfer.id} {transfer.status}{cancelled}: {transfer.updated_count:,} moved,"
            f" {transfer.skipped_count:,} skipped, {transfer.failed_count:,} failed,"
            f" {transfer.related_count:,} related activities; batch {transfer.batch_id}"
            f" (revert: POST /bigin/v2/owner_batches/{transfer.batch_id}/actions/revert)."
        )
        if transfer.status == TransferJob.Status.FAILED:
            raise CommandError(
                f"Job {transfer.id} failed: {transfer.last_error} (retry it with:"
                f" python manage.py transfer_records --retry {transfer.id})"
            )
