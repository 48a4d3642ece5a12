"""The model test: every door that writes owners, interleaved by hypothesis on PostgreSQL, with
the outbox and the transfer jobs really run (in this process, one entry at a time, as a worker
runs them), and the invariants of "Where features meet" checked after every step.

Doors (rules): change owner through the API (bulk with related modules, and the one-record form,
on parents and on activities), the record APIs (add with or without an Owner, update of Owner,
delete), the same request twice with one Idempotency-Key, the Kenbun API (assign and unassign),
the admin's change-owner action, mass change, offboarding (transfer_and_delete), revert, cancel
and retry of transfer jobs (all through the API), the sandbox controls (snapshot, reset to a
snapshot, run the organization's jobs now; with them on, every call is journaled and checked
for faults), an operator disabling a user, a worker that claims an entry and dies mid-way, an
entry whose worker always dies until the sweep gives up, the sweep, and running the outbox one
entry at a time.

Invariants:
- each record's owner is the new owner of its latest audit row (its first owner when it has none);
- no record is owned by a deleted user;
- newest write wins: no job (mass change, offboarding, revert, related transfer) writes over a
  change made at or after the time it was scheduled;
- a revert is never overtaken by the batch it reverts;
- counts add up: a finished transfer job has Total = Updated + Failed + Skipped;
- every job ends: after the sweep's horizon (the `settle` rule) no transfer job is scheduled or
  running and no outbox entry is pending or running;
- the other organization is untouched.

Bounded here (`make test`); `make fuzz` runs it longer with `MODEL_TEST_EXAMPLES` and prints the
seed (hypothesis prints the failing example and how to reproduce it).
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from django.db.models import Min
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from audit.models import AuditEntry
from crm.models import Organization, Record, User
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from owners import outbox
from owners.models import OutboxEntry, TransferJob
from owners.selectors import batch_overview
from owners.transfers import runner
from tests.factories import OrganizationFactory, RecordFactory, UserFactory
from tests.owners.invariants import FINISHED, check_owner_invariants

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SANDBOX_KEY = "model-test-sandbox-key-0123456789"
SCOPES = ["ZohoBigin.change_owner.ALL", "ZohoBigin.users.ALL", "ZohoBigin.modules.ALL"]
STATES = ("OR", "CA")
# Criteria names a client may send: a field of Contacts, and two that are ORM lookups in disguise.
CRITERIA_FIELDS = ("Mailing_State", "Mailing_State", "Mailing_State__regex", "Mailing_State__range")
TRANSFER_STEPS = dict.fromkeys(runner.KINDS, runner.run_transfer_job)
TRANSFER_FAILURES = dict.fromkeys(runner.KINDS, runner.record_failure)
CONTACTS = module_by_name("Contacts")
TASKS = module_by_name("Tasks")
# Who acts where an Administrator's door is tested: the Administrators (Ann, index 0, and Root,
# the superuser, index 1) more often than the others, so their jobs happen in most examples.
ADMINS_OFTEN = st.sampled_from([0, 0, 1, 2, 3, 4])
# Whom an offboarding names: mostly users who may leave, sometimes the actor or the superuser.
LEAVERS = st.sampled_from([2, 3, 4, 2, 3, 4, 0, 1])
# How many rounds of "run what is due, then sweep" the settle rule allows before it calls a job
# stuck: far more than the attempts a job may take (OUTBOX_MAX_ATTEMPTS below).
SETTLE_ROUNDS = 40


def _bigin(user: User) -> APIClient:
    client = APIClient()
    token = issue_access_token(user=user, scopes=SCOPES)
    client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
    return client


def _kenbun(user: User) -> APIClient:
    client = APIClient()
    token = issue_access_token(user=user, scopes=SCOPES)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _run_entry(entry_id: int) -> None:
    # What a worker's task does with one entry (a failure is marked on the entry, and counted by
    # its transfer job, by run_entry itself).
    with contextlib.suppress(Exception):
        outbox.run_entry(entry_id, runners=TRANSFER_STEPS, failures=TRANSFER_FAILURES)


class WritePaths(RuleBasedStateMachine):
    # Set by the test function: the other organization and what it looked like.
    other_organization: Organization
    other_snapshot: tuple

    @initialize()
    def setup(self) -> None:
        self.organization = OrganizationFactory(name=f"Model {uuid.uuid4().hex[:6]}")
        org = self.organization
        self.ann = UserFactory(organization=org, full_name="Ann", profile_name="Administrator")
        self.root = UserFactory(
            organization=org, full_name="Root", profile_name="Administrator", is_superuser=True
        )
        self.bo = UserFactory(organization=org, full_name="Bo", profile_name="Standard")
        self.tess = UserFactory(organization=org, full_name="Tess", profile_name="Standard")
        self.cy = UserFactory(organization=org, full_name="Cy", profile_name="Standard")
        self.users = [self.ann, self.root, self.bo, self.tess, self.cy]
        self.contacts = [
            RecordFactory(
                organization=org,
                module_name="Contacts",
                owner=self.users[n % 5],
                fields={"Last_Name": f"C{n}", "Mailing_State": STATES[n % 2]},
            )
            for n in range(6)
        ]
        self.tasks = [
            RecordFactory(
                organization=org,
                module_name="Tasks",
                owner=self.users[(n + 2) % 5],
                related_to=self.contacts[n % 6],
                fields={"Subject": f"T{n}"},
            )
            for n in range(6)
        ]
        self.first_owner = {r.id: r.owner_id for r in [*self.contacts, *self.tasks]}
        self.bigin = {user.id: _bigin(user) for user in self.users}
        self.kenbun = {user.id: _kenbun(user) for user in self.users}
        self.admin = Client()
        self.admin.force_login(self.root)
        self.root.is_staff = True
        self.root.save(update_fields=["is_staff"])
        self.sandbox = APIClient()
        self.sandbox.credentials(HTTP_X_SANDBOX_KEY=SANDBOX_KEY)
        self.snapshots: dict[str, tuple[list[Record], list[Record]]] = {}
        self.take_snapshot()

    # --- helpers ------------------------------------------------------------------------------

    def status(self, user: User) -> str:
        return User.objects.values_list("status", flat=True).get(id=user.id)

    def batches(self) -> list[uuid.UUID]:
        """The organization's batches in the order they began (not by their random ids, so a
        replayed example draws the same batch)."""
        first: dict[uuid.UUID, object] = dict(
            AuditEntry.objects.filter(organization=self.organization)
            .values("batch_id")
            .annotate(first=Min("created_time"))
            .values_list("batch_id", "first")
        )
        for batch_id, created in TransferJob.objects.filter(
            organization=self.organization
        ).values_list("batch_id", "created_time"):
            first[batch_id] = min(first.get(batch_id, created), created)
        return sorted(first, key=lambda batch_id: first[batch_id])

    def jobs(self) -> list[TransferJob]:
        return list(TransferJob.objects.filter(organization=self.organization).order_by("id"))

    def pending(self) -> list[int]:
        return list(
            OutboxEntry.objects.filter(
                organization=self.organization, status=OutboxEntry.Status.PENDING
            )
            .order_by("created_time", "id")
            .values_list("id", flat=True)
        )

    # --- doors that change owners now ---------------------------------------------------------

    @rule(
        data=st.data(),
        actor=st.integers(0, 4),
        owner=st.integers(0, 4),
        related=st.booleans(),
        notify=st.booleans(),
    )
    def change_owner_bulk(self, data, actor, owner, related, notify) -> None:
        picked = data.draw(st.sets(st.sampled_from(self.contacts), min_size=1, max_size=4))
        body = {"ids": [str(r.id) for r in picked], "owner": {"id": str(self.users[owner].id)}}
        if related:
            body["related_modules"] = [{"api_name": "Tasks"}]
        if notify:
            body["notify"] = True
        response = self.bigin[self.users[actor].id].post(
            "/bigin/v2/Contacts/actions/change_owner", body, format="json"
        )
        assert response.status_code in (200, 202, 400, 401, 403), response.content

    @rule(
        data=st.data(),
        actor=st.integers(0, 4),
        owner=st.integers(0, 4),
        door=st.sampled_from(["change_owner", "record_add", "mass_change"]),
    )
    def same_request_twice_with_one_key(self, data, actor, owner, door) -> None:
        # A client's retry with its Idempotency-Key: the second answer is the first, and the
        # organization's audit rows, jobs and records are as the first left them.
        if door == "change_owner":
            picked = data.draw(st.sets(st.sampled_from(self.contacts), min_size=1, max_size=3))
            path = "/bigin/v2/Contacts/actions/change_owner"
            body = {"ids": [str(r.id) for r in picked], "owner": {"id": str(self.users[owner].id)}}
        elif door == "record_add":
            path = "/bigin/v2/Contacts"
            body = {"data": [{"Last_Name": "Keyed", "Owner": {"id": str(self.users[owner].id)}}]}
        else:
            path = "/bigin/v2/Contacts/actions/mass_change_owner"
            body = {
                "owner": {"id": str(self.users[owner].id)},
                "criteria": {
                    "field": {"api_name": "Mailing_State"},
                    "comparator": "equal",
                    "value": STATES[0],
                },
            }
        client = self.bigin[self.users[actor].id]
        key = f"model-{uuid.uuid4().hex}"
        first = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        written = self.written()
        second = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert (second.status_code, second.json()) == (first.status_code, first.json())
        assert self.written() == written
        if first.status_code == 201:
            record_id = int(first.json()["data"][0]["details"]["id"])
            self.contacts.append(Record.objects.get(id=record_id))

    def written(self) -> tuple[int, int, int]:
        org = self.organization
        return (
            AuditEntry.objects.filter(organization=org).count(),
            TransferJob.objects.filter(organization=org).count(),
            Record.objects.filter(organization=org).count(),
        )

    @rule(data=st.data(), actor=st.integers(0, 4), owner=st.integers(0, 4))
    def change_owner_single(self, data, actor, owner) -> None:
        # A parent or an activity (a direct change of a task, racing its related transfer).
        record = data.draw(st.sampled_from([*self.contacts, *self.tasks]))
        module = "Contacts" if record in self.contacts else "Tasks"
        response = self.bigin[self.users[actor].id].post(
            f"/bigin/v2/{module}/{record.id}/actions/change_owner",
            {"owner": {"id": str(self.users[owner].id)}},
            format="json",
        )
        assert response.status_code in (200, 400, 401, 403), response.content

    @rule(data=st.data(), actor=st.integers(0, 4), owner=st.one_of(st.none(), st.integers(0, 4)))
    def kenbun_assign(self, data, actor, owner) -> None:
        record = data.draw(st.sampled_from(self.contacts))
        owner_id = None if owner is None else str(self.users[owner].id)
        response = self.kenbun[self.users[actor].id].post(
            f"/leads/{record.id}/owner", {"owner_id": owner_id}, "json"
        )
        assert response.status_code in (200, 400, 401, 403), response.content

    @rule(data=st.data(), owner=st.integers(0, 4), related=st.booleans())
    def admin_change_owner(self, data, owner, related) -> None:
        picked = data.draw(st.sets(st.sampled_from(self.contacts), min_size=1, max_size=3))
        response = self.admin.post(
            "/admin/crm/record/",
            {
                "action": "change_owner_action",
                "apply": "yes",
                "_selected_action": [r.id for r in picked],
                "new_owner": self.users[owner].id,
                "related_modules": ["Tasks"] if related else [],
            },
        )
        assert response.status_code in (200, 302), response.status_code

    @rule(
        actor=st.integers(0, 4),
        owner=st.one_of(st.none(), st.integers(0, 4)),
        state=st.sampled_from(STATES),
    )
    def record_add(self, actor, owner, state) -> None:
        # A client adds a contact (owner: the caller unless given); an added record is audited
        # (source insert) and takes part in everything after.
        row = {"Last_Name": f"New{len(self.contacts)}", "Mailing_State": state}
        if owner is not None:
            row["Owner"] = {"id": str(self.users[owner].id)}
        response = self.bigin[self.users[actor].id].post(
            "/bigin/v2/Contacts", {"data": [row]}, format="json"
        )
        assert response.status_code in (201, 400, 401, 403), response.content
        if response.status_code == 201:
            record_id = int(response.json()["data"][0]["details"]["id"])
            self.contacts.append(Record.objects.get(id=record_id))

    @rule(data=st.data(), actor=st.integers(0, 4), owner=st.integers(0, 4))
    def record_update_owner(self, data, actor, owner) -> None:
        # A client updates a record's Owner with the record APIs: an owner change (source update).
        record = data.draw(st.sampled_from([*self.contacts, *self.tasks]))
        module = "Contacts" if record in self.contacts else "Tasks"
        response = self.bigin[self.users[actor].id].put(
            f"/bigin/v2/{module}/{record.id}",
            {"data": [{"Owner": {"id": str(self.users[owner].id)}}]},
            format="json",
        )
        assert response.status_code in (200, 202, 400, 401, 403), response.content

    @precondition(lambda self: len(self.contacts) > 2)
    @rule(data=st.data(), actor=st.integers(0, 4))
    def record_delete(self, data, actor) -> None:
        # A client deletes a contact while jobs and reverts may still name it.
        record = data.draw(st.sampled_from(self.contacts))
        response = self.bigin[self.users[actor].id].delete(f"/bigin/v2/Contacts/{record.id}")
        assert response.status_code in (200, 400, 401, 403), response.content
        if response.status_code == 200:
            self.contacts.remove(record)
            self.tasks = [t for t in self.tasks if Record.objects.filter(id=t.id).exists()]

    @rule(user=st.integers(0, 4))
    def operator_disables_a_user(self, user) -> None:
        # A new owner disabled while a job runs: its chunks fail, and the job must still end.
        target = self.users[user]
        if target.is_superuser:
            return
        User.objects.filter(id=target.id, status=User.Status.ACTIVE).update(
            status=User.Status.DISABLED
        )

    # --- transfer jobs --------------------------------------------------------------------------

    @rule(
        actor=st.integers(0, 4),
        owner=st.integers(0, 4),
        field=st.sampled_from(CRITERIA_FIELDS),
        state=st.sampled_from(STATES),
        related=st.booleans(),
    )
    def mass_change(self, actor, owner, field, state, related) -> None:
        body = {
            "owner": {"id": str(self.users[owner].id)},
            "criteria": {"field": {"api_name": field}, "comparator": "equal", "value": state},
        }
        if related:
            body["related_modules"] = [{"api_name": "Tasks"}]
        active = self.status(self.users[actor]) == User.Status.ACTIVE
        response = self.bigin[self.users[actor].id].post(
            "/bigin/v2/Contacts/actions/mass_change_owner", body, format="json"
        )
        if not active:
            assert response.status_code == 401, response.content
            return
        if self.status(self.users[owner]) != User.Status.ACTIVE:
            assert response.status_code in (400, 403), response.content
            return
        if field != "Mailing_State":
            # Criteria name fields, never database lookups.
            assert (response.status_code, response.json()) == (
                400,
                {
                    "code": "INVALID_DATA",
                    "details": {"api_name": field, "json_path": "$.criteria.field.api_name"},
                    "message": response.json()["message"],
                    "status": "error",
                },
            )
            return
        assert response.status_code in (202, 400, 403), response.content

    @rule(actor=ADMINS_OFTEN, leaving=LEAVERS, owner=st.integers(0, 4))
    def offboard(self, actor, leaving, owner) -> None:
        acting, gone = self.users[actor], self.users[leaving]
        body = {
            "transfer_and_delete": [
                {"id": str(gone.id), "transfer": {"id": str(self.users[owner].id), "records": True}}
            ]
        }
        active = self.status(acting) == User.Status.ACTIVE
        response = self.bigin[acting.id].post(
            "/bigin/v2/users/actions/transfer_and_delete", body, format="json"
        )
        if not active:
            assert response.status_code == 401, response.content
            return
        if acting.profile.name != "Administrator":
            assert response.status_code == 403, response.content
            return
        if gone.id == acting.id or gone.is_superuser:
            # The API refuses what the admin refuses.
            assert response.status_code == 400, response.content
            assert response.json()["code"] == "INVALID_DATA", response.content
            assert response.json()["details"] == {
                "api_name": "id",
                "json_path": "$.transfer_and_delete[0].id",
            }
            return
        if self.status(self.users[owner]) != User.Status.ACTIVE and owner != leaving:
            # Records go to active users only.
            assert response.status_code in (400, 403), response.content
            return
        assert response.status_code in (202, 400), response.content

    @rule(data=st.data(), actor=ADMINS_OFTEN)
    def revert(self, data, actor) -> None:
        batches = self.batches()
        if not batches:
            return
        # Often the latest batch (what an operator undoes), else any.
        batch_id = data.draw(st.one_of(st.just(batches[-1]), st.sampled_from(batches)))
        overview = batch_overview(organization_id=self.organization.id, batch_id=batch_id)
        acting = self.users[actor]
        active = self.status(acting) == User.Status.ACTIVE
        response = self.bigin[acting.id].post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert")
        if not active:
            assert response.status_code == 401, response.content
            return
        if overview.source == AuditEntry.Source.OFFBOARDING and (
            acting.profile.name != "Administrator"
        ):
            # The revert needs the permission its batch's operation needed.
            assert response.status_code == 403, response.content
            return
        if overview.unfinished_status is not None:
            # No revert of a batch whose records may still move.
            assert response.status_code == 400, response.content
            assert response.json()["details"] == {
                "batch_id": str(batch_id),
                "job_status": overview.unfinished_status.upper(),
            }
            return
        assert response.status_code in (202, 400, 403), response.content

    @rule(actor=st.integers(0, 1), leaving=st.integers(2, 4), owner=st.integers(0, 4))
    def offboard_then_undo(self, actor, leaving, owner) -> None:
        # An Administrator offboards someone, the workers finish, and the Administrator undoes it
        # (the wrong person): the revert never hands records back to the user it deleted.
        acting, gone, heir = self.users[actor], self.users[leaving], self.users[owner]
        if owner == leaving or any(
            self.status(user) != User.Status.ACTIVE for user in (acting, gone, heir)
        ):
            return
        response = self.bigin[acting.id].post(
            "/bigin/v2/users/actions/transfer_and_delete",
            {"transfer_and_delete": [{"id": str(gone.id), "transfer": {"id": str(heir.id)}}]},
            format="json",
        )
        assert response.status_code == 202, response.content
        self.run_until_quiet()
        batch_id = response["X-Owner-Batch-Id"]
        response = self.bigin[acting.id].post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert")
        assert response.status_code in (202, 400), response.content  # 400: it changed nothing
        self.run_until_quiet()

    @precondition(lambda self: TransferJob.objects.filter(organization=self.organization).exists())
    @rule(data=st.data(), action=st.sampled_from(["cancel", "retry"]))
    def cancel_or_retry(self, data, action) -> None:
        job = data.draw(st.sampled_from(self.jobs()))
        if job.kind == TransferJob.Kind.OFFBOARDING:
            path = "/bigin/v2/users/actions/transfer_and_delete"
            action = "retry"  # an offboarding is not cancelled through the API
        elif job.kind == TransferJob.Kind.MASS_CHANGE:
            path = "/bigin/v2/Contacts/actions/mass_change_owner"
        else:
            return  # a revert is cancelled and retried in the admin only
        response = self.bigin[self.ann.id].post(f"{path}?job_id={job.id}&action={action}")
        if self.status(self.ann) != User.Status.ACTIVE:
            assert response.status_code == 401, response.content
            return
        status = TransferJob.objects.values_list("status", flat=True).get(id=job.id)
        if action == "retry":
            # A failed job is retried (its failed chunks run again); any other is refused.
            expected = 202 if job.status == TransferJob.Status.FAILED else 400
        else:
            expected = 400 if job.status in FINISHED else 200
        assert response.status_code == expected, (job.status, status, response.content)

    # --- the sandbox controls ------------------------------------------------------------------

    def take_snapshot(self) -> None:
        name = f"s{len(self.snapshots)}"
        response = self.sandbox.post(
            f"/sandbox/v1/organizations/{self.organization.id}/snapshots", {"name": name}, "json"
        )
        assert response.status_code == 201, response.content
        self.snapshots[name] = (list(self.contacts), list(self.tasks))

    @precondition(lambda self: len(self.snapshots) < 4)
    @rule()
    def sandbox_snapshot(self) -> None:
        self.take_snapshot()

    @rule(data=st.data())
    def sandbox_reset(self, data) -> None:
        # Records, users and owner history back as the snapshot holds them; pending work and
        # transfer jobs dropped (they belonged to a state that no longer exists).
        name = data.draw(st.sampled_from(sorted(self.snapshots)))
        response = self.sandbox.post(
            f"/sandbox/v1/organizations/{self.organization.id}/actions/reset",
            {"snapshot": name},
            "json",
        )
        assert response.status_code == 200, response.content
        contacts, tasks = self.snapshots[name]
        self.contacts, self.tasks = list(contacts), list(tasks)
        # Tokens are left as they are: a user given back by the reset (one offboarded since)
        # has only revoked ones, and asks for new ones, as a client would.
        self.bigin = {user.id: _bigin(user) for user in self.users}
        self.kenbun = {user.id: _kenbun(user) for user in self.users}
        assert not OutboxEntry.objects.filter(organization=self.organization).exists()
        assert not TransferJob.objects.filter(organization=self.organization).exists()

    @rule()
    def sandbox_run_jobs(self) -> None:
        # "Run its jobs now": every pending entry runs, as a worker would run it.
        response = self.sandbox.post(
            f"/sandbox/v1/organizations/{self.organization.id}/actions/run_jobs"
        )
        assert response.status_code == 200, response.content

    # --- workers --------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.pending()))
    @rule(data=st.data())
    def run_one_entry(self, data) -> None:
        _run_entry(data.draw(st.sampled_from(self.pending())))

    @precondition(lambda self: bool(self.pending()))
    @rule(data=st.data())
    def worker_dies_mid_entry(self, data) -> None:
        # Claimed, then the worker is killed inside the entry's transaction: the transaction rolls
        # back and the claim stays, with its lease running (0 s here, so it has run out).
        outbox.claim_entry(data.draw(st.sampled_from(self.pending())))

    @precondition(lambda self: bool(self.pending()))
    @rule(data=st.data())
    def a_step_that_never_finishes(self, data) -> None:
        # Its worker dies every time (or it outlasts the task time limit every time): claimed,
        # its lease runs out, the sweep sends it again, until the sweep gives up on it.
        entry_id = data.draw(st.sampled_from(self.pending()))
        for _ in range(10):
            if outbox.claim_entry(entry_id) is None:
                break
            outbox.release_left_behind(TRANSFER_FAILURES)
        status = OutboxEntry.objects.values_list("status", flat=True).get(id=entry_id)
        assert status in (OutboxEntry.Status.FAILED, OutboxEntry.Status.DONE), status

    @rule()
    def sweep(self) -> None:
        outbox.release_left_behind(TRANSFER_FAILURES)

    @rule()
    def settle(self) -> None:
        self.run_until_quiet()

    def run_until_quiet(self) -> None:
        """Run what is due and sweep, round after round, until nothing is left; then every job
        must have ended."""
        for _ in range(SETTLE_ROUNDS):
            pending = self.pending()
            for entry_id in pending:
                _run_entry(entry_id)
            released = outbox.release_left_behind(TRANSFER_FAILURES)
            if not pending and not released and not self.pending():
                break
        open_entries = OutboxEntry.objects.filter(
            organization=self.organization,
            status__in=[OutboxEntry.Status.PENDING, OutboxEntry.Status.RUNNING],
        )
        assert not open_entries.exists(), list(open_entries.values("kind", "status", "attempts"))
        stuck = [job for job in self.jobs() if job.status not in FINISHED]
        assert not stuck, [
            (job.kind, job.status, job.chunks_done, job.chunks_planned) for job in stuck
        ]

    def teardown(self) -> None:
        if hasattr(self, "organization"):
            self.run_until_quiet()
            self.check_all()

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def invariants(self) -> None:
        if hasattr(self, "organization"):
            self.check_all()

    def check_all(self) -> None:
        check_owner_invariants(self.organization, self.first_owner)
        # The other organization is untouched.
        assert snapshot(self.other_organization) == self.other_snapshot


def snapshot(organization: Organization) -> tuple:
    owners = tuple(
        Record.objects.filter(organization=organization)
        .order_by("id")
        .values_list("id", "owner_id")
    )
    return owners, AuditEntry.objects.filter(organization=organization).count()


EXAMPLES = int(os.environ.get("MODEL_TEST_EXAMPLES", "40"))


def test_every_write_path_keeps_the_rules_where_features_meet(settings_fixture_for_model):
    other = OrganizationFactory(name="Untouched")
    somebody = UserFactory(organization=other, full_name="Ola")
    for n in range(3):
        RecordFactory(organization=other, module_name="Contacts", owner=somebody, name=f"O{n}")
    WritePaths.other_organization = other
    WritePaths.other_snapshot = snapshot(other)
    run_state_machine_as_test(
        WritePaths,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=int(os.environ.get("MODEL_TEST_STEPS", "30")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=not os.environ.get("MODEL_TEST_EXAMPLES"),
        ),
    )


@pytest.fixture
def settings_fixture_for_model(settings):
    # Small chunks, so a job has several; leases and the sweep's grace at zero, so "later" is
    # now; few attempts, so the sweep gives up on an entry within a test.
    settings.TRANSFER_JOB_CHUNK = 2
    settings.OUTBOX_LEASE_SECONDS = 0
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    settings.OUTBOX_MAX_ATTEMPTS = 3
    # The sandbox controls on (snapshots, reset, run_jobs), so every API call is also journaled
    # and checked for faults, as under `make sandbox`.
    settings.SANDBOX_API = True
    settings.SANDBOX_API_KEY = SANDBOX_KEY
    return settings
