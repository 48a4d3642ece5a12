"""The benchmark's data: one organization of its own, wiped and rebuilt at every run.

Only rows of the organization named `BENCH_ORG` are touched, so pointing DATABASE_URL at a
database that holds other data is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, transaction

from crm.ids import new_id
from crm.models import Organization, Profile, Record, User
from crm.modules import module_by_name

BENCH_ORG = "Bench Co (bench/ scratch data)"
# The bench runs the product as shipped, metering on: its organization gets a daily credit budget
# that fits a whole run (wrk's rounds at three concurrencies send a few hundred thousand calls),
# where an edition's default would answer 429 part-way through.
BENCH_CREDITS_PER_DAY = 50_000_000
CONTACTS = module_by_name("Contacts")
TASKS = module_by_name("Tasks")


@dataclass
class BenchData:
    organization: Organization
    actor: User
    owner_a: User
    owner_b: User
    owners: list[User]
    # Part 1: one set of records per size for the service and one for the raw SQL.
    service_sets: dict[int, list[int]] = field(default_factory=dict)
    raw_sets: dict[int, list[int]] = field(default_factory=dict)
    # Part 2: the pool single-record requests pick from, and the 500 ids of the bulk request.
    http_pool: list[int] = field(default_factory=list)
    http_bulk: list[int] = field(default_factory=list)
    # Part 3: parents (each with TASKS_PER_PARENT Tasks) for the job and for the raw SQL.
    transfer_parents: dict[str, list[int]] = field(default_factory=dict)
    tasks_per_parent: int = 0


def wipe() -> None:
    """Delete the previous run's organization and everything in it, in one transaction."""
    org_ids = list(Organization.objects.filter(name=BENCH_ORG).values_list("id", flat=True))
    if not org_ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in (
            "DELETE FROM owners_outboxentry WHERE organization_id = ANY(%s)",
            "DELETE FROM audit_auditentry WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_record WHERE organization_id = ANY(%s)",
            "DELETE FROM crm_accesstoken WHERE user_id IN"
            " (SELECT id FROM crm_user WHERE organization_id = ANY(%s))",
            "DELETE FROM crm_user WHERE organization_id = ANY(%s)",
        ):
            cursor.execute(statement, [org_ids])
        # Profiles, roles and clients go with the organization (CASCADE).
        Organization.objects.filter(id__in=org_ids).delete()


def _users(organization: Organization, count: int) -> list[User]:
    profile = Profile.objects.get(organization=organization, name="Administrator")
    users = [
        User(
            organization=organization,
            email=f"bench{n}@bench.test",
            full_name=f"Bench User{n}",
            profile=profile,
            password="!",  # unusable: nobody logs in as these
        )
        for n in range(count)
    ]
    return User.objects.bulk_create(users)


def _records(organization: Organization, owner: User, count: int, module=CONTACTS) -> list[int]:
    records = [
        Record(
            id=new_id(),
            organization=organization,
            module_id=module.id,
            owner=owner,
            name=f"Bench {module.api_name} {n}",
        )
        for n in range(count)
    ]
    Record.objects.bulk_create(records, batch_size=2000)
    return [record.id for record in records]


def _activities(organization: Organization, owner: User, parents: list[int], per_parent: int):
    Record.objects.bulk_create(
        (
            Record(
                id=new_id(),
                organization=organization,
                module_id=TASKS.id,
                owner=owner,
                related_to_id=parent,
                name=f"Bench task {n}",
            )
            for parent in parents
            for n in range(per_parent)
        ),
        batch_size=2000,
    )


def build(
    *,
    sizes: tuple[int, ...],
    owner_count: int,
    http_pool_size: int,
    transfer_parents: int,
    tasks_per_parent: int,
    transfer_sets: tuple[str, ...],
) -> BenchData:
    wipe()
    organization = Organization.objects.create(
        name=BENCH_ORG, api_credits_per_day=BENCH_CREDITS_PER_DAY
    )
    actor, owner_a, owner_b, *others = _users(organization, owner_count + 3)
    data = BenchData(organization, actor, owner_a, owner_b, owners=[owner_a, owner_b, *others])
    for size in sizes:
        # Owned by B, so the first run (to A) and every alternating run after it change each row.
        data.service_sets[size] = _records(organization, owner_b, size)
        data.raw_sets[size] = _records(organization, owner_b, size)
    data.http_pool = _records(organization, actor, http_pool_size)
    data.http_bulk = _records(organization, owner_b, 500)
    data.tasks_per_parent = tasks_per_parent
    for name in transfer_sets:
        parents = _records(organization, owner_b, transfer_parents)
        _activities(organization, owner_b, parents, tasks_per_parent)
        data.transfer_parents[name] = parents
    with connection.cursor() as cursor:
        for table in ("crm_record", "crm_user", "audit_auditentry", "owners_outboxentry"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return data
