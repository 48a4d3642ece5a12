"""The bench's large organization: millions of records loaded with set-based SQL.

One organization of its own (`DEEP_ORG`), kept between runs: loading it takes a minute or two,
so a run reuses it when its counts are right and reloads it otherwise. It holds

- Contacts: `BENCH_DEEP_RECORDS` (default 5,000,000) records. Every fifth belongs to the "huge"
  owner (so 1,000,000 at the default size), spread over the whole id range; three belong to the
  "rare" owner; the rest to 50 other users in turn.
- Accounts: `BENCH_DEEP_SMALL_RECORDS` (default 1,000,000), owned by the 50 other users.
- Pipelines: `TRANSFER_PARENTS` parents with `TASKS_PER_PARENT` Tasks each (50,000 Tasks),
  for the related transfer.

Rows go in with `INSERT ... SELECT FROM generate_series`, ids from a reserved range far below
what `crm.ids.new_id` hands out today (ids are 41 bits of milliseconds since 2020 shifted left 22
bits: 10**15 is 2.7 days after that epoch, long gone), so they cannot collide with live ids; a
collision would fail the insert on the primary key, never corrupt anything. Foreign-key triggers
are off while loading (`session_replication_role = replica`): every owner and module id is
one this function has just written, and per-row checks would double the load time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from django.db import connection, transaction

from crm.models import Organization, Profile, User
from crm.modules import module_by_name

from .seed import BENCH_CREDITS_PER_DAY

DEEP_ORG = "Bench Deep Co (bench/ scale data, kept between runs)"
CONTACTS = module_by_name("Contacts")
ACCOUNTS = module_by_name("Accounts")
PIPELINES = module_by_name("Pipelines")
TASKS = module_by_name("Tasks")

LARGE = int(os.environ.get("BENCH_DEEP_RECORDS", "5000000"))
SMALL = int(os.environ.get("BENCH_DEEP_SMALL_RECORDS", "1000000"))
OTHER_OWNERS = 50
TRANSFER_PARENTS = 500
TASKS_PER_PARENT = 100
RARE_COUNT = 3
ID_BASE = 10**15

# Record id ranges: each module's block starts at its own offset.
_CONTACTS_BASE = ID_BASE
_ACCOUNTS_BASE = ID_BASE + 100_000_000
_PARENTS_BASE = ID_BASE + 200_000_000
_TASKS_BASE = ID_BASE + 300_000_000
_USERS_BASE = ID_BASE + 900_000_000


@dataclass
class DeepData:
    organization: Organization
    actor: User
    huge_owner: User
    rare_owner: User
    others: list[User]
    large: int
    small: int
    parents: list[int]
    tasks_per_parent: int
    load_seconds: float | None  # None when the previous run's data was reused


def _expected_counts() -> dict[int, int]:
    return {
        CONTACTS.id: LARGE,
        ACCOUNTS.id: SMALL,
        PIPELINES.id: TRANSFER_PARENTS,
        TASKS.id: TRANSFER_PARENTS * TASKS_PER_PARENT,
    }


def _counts(organization_id: int) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT module_id, count(*) FROM crm_record WHERE organization_id = %s"
            " GROUP BY module_id",
            [organization_id],
        )
        return dict(cursor.fetchall())


def wipe() -> None:
    org_ids = list(Organization.objects.filter(name=DEEP_ORG).values_list("id", flat=True))
    if not org_ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # Rows of this organization only; FK triggers off (as for the load), everything of the
        # organization goes.
        cursor.execute("SET LOCAL session_replication_role = replica")
        for statement in (
            "DELETE FROM owners_outboxentry WHERE organization_id = ANY(%s)",
            "DELETE FROM audit_auditentry WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_record WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_accesstoken WHERE user_id IN"
            " (SELECT id FROM crm_user WHERE organization_id = ANY(%s))",
            "DELETE FROM crm_user WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_profile WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_role WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_oauthclient WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_organization WHERE id = ANY(%s)",
        ):
            cursor.execute(statement, [org_ids])


def _users(organization: Organization) -> list[User]:
    profile = Profile.objects.get(organization=organization, name="Administrator")
    names = ["actor", "huge", "rare"] + [f"other{n}" for n in range(OTHER_OWNERS)]
    return User.objects.bulk_create(
        User(
            id=_USERS_BASE + n,
            organization=organization,
            email=f"deep-{name}@bench-deep.test",
            full_name=f"Deep {name.title()}",
            profile=profile,
            password="!",
        )
        for n, name in enumerate(names)
    )


_INSERT = """
    INSERT INTO crm_record (id, name, fields, created_time, modified_time, modified_by_id,
                            module_id, organization_id, owner_id, related_to_id)
    SELECT %(base)s + g, %(prefix)s || g, '{{}}'::jsonb,
           timestamptz '2024-01-01' + g * interval '1 ms',
           timestamptz '2024-01-01' + g * interval '1 ms', NULL,
           %(module)s, %(org)s, {owner}, {related}
    FROM generate_series(1, %(count)s) AS g
"""


def _load(organization: Organization, users: list[User]) -> None:
    _actor, huge, rare, *others = users
    other_ids = [user.id for user in others]
    rare_at = [17, LARGE // 2 + 1, LARGE - 1][:RARE_COUNT]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        common = {"org": organization.id, "others": other_ids, "n": len(other_ids)}
        # Contacts: every fifth to the huge owner, three to the rare one, the rest in turn.
        owner = (
            "CASE WHEN g %% 5 = 0 THEN %(huge)s::bigint"
            " WHEN g = ANY(%(rare_at)s) THEN %(rare)s::bigint"
            " ELSE (%(others)s::bigint[])[1 + g %% %(n)s] END"
        )
        cursor.execute(
            _INSERT.format(owner=owner, related="NULL"),
            {
                **common,
                "base": _CONTACTS_BASE,
                "prefix": "Deep contact ",
                "module": CONTACTS.id,
                "count": LARGE,
                "huge": huge.id,
                "rare": rare.id,
                "rare_at": rare_at,
            },
        )
        in_turn = "(%(others)s::bigint[])[1 + g %% %(n)s]"
        cursor.execute(
            _INSERT.format(owner=in_turn, related="NULL"),
            {
                **common,
                "base": _ACCOUNTS_BASE,
                "prefix": "Deep account ",
                "module": ACCOUNTS.id,
                "count": SMALL,
            },
        )
        cursor.execute(
            _INSERT.format(owner="%(first)s::bigint", related="NULL"),
            {
                **common,
                "base": _PARENTS_BASE,
                "prefix": "Deep pipeline ",
                "module": PIPELINES.id,
                "count": TRANSFER_PARENTS,
                "first": other_ids[0],
            },
        )
        # Tasks: TASKS_PER_PARENT per parent, parent (g - 1) / TASKS_PER_PARENT + 1.
        related = f"%(parents_base)s + (g - 1) / {TASKS_PER_PARENT} + 1"
        cursor.execute(
            _INSERT.format(owner="%(first)s::bigint", related=related),
            {
                **common,
                "base": _TASKS_BASE,
                "prefix": "Deep task ",
                "module": TASKS.id,
                "count": TRANSFER_PARENTS * TASKS_PER_PARENT,
                "first": other_ids[0],
                "parents_base": _PARENTS_BASE,
            },
        )


def build() -> DeepData:
    """The large organization, loaded now or kept from the previous run."""
    started = time.monotonic()
    organization = Organization.objects.filter(name=DEEP_ORG).first()
    load_seconds = None
    if organization is None or _counts(organization.id) != _expected_counts():
        wipe()
        organization = Organization.objects.create(name=DEEP_ORG)
        users = _users(organization)
        _load(organization, users)
        with connection.cursor() as cursor:
            # Statistics and the visibility map (index-only scans) for the new rows.
            cursor.execute("VACUUM ANALYZE crm_record")
            cursor.execute("VACUUM ANALYZE crm_user")
        load_seconds = time.monotonic() - started
    # A budget that fits the run, kept or not (bench/seed.py says why).
    Organization.objects.filter(id=organization.id).update(
        api_credits_per_day=BENCH_CREDITS_PER_DAY
    )
    users = list(User.objects.filter(organization=organization).order_by("id"))
    actor, huge, rare, *others = users
    parents = list(range(_PARENTS_BASE + 1, _PARENTS_BASE + TRANSFER_PARENTS + 1))
    return DeepData(
        organization=organization,
        actor=actor,
        huge_owner=huge,
        rare_owner=rare,
        others=others,
        large=LARGE,
        small=SMALL,
        parents=parents,
        tasks_per_parent=TASKS_PER_PARENT,
        load_seconds=load_seconds,
    )
