from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from crm.models import Module, Organization, Profile, Record, Role, User
from crm.modules import MODULES, module_by_name
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts").id
TASKS = module_by_name("Tasks").id


@pytest.fixture
def outsider(other_organization):
    return UserFactory(organization=other_organization, email="out@nimbus.test")


def _violates_on_check(**fields) -> IntegrityError:
    """Create the record in a savepoint and make PostgreSQL check the deferred keys now."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Record.objects.create(**fields)
        connection.check_constraints()
    return caught.value


@pytest.mark.postgres
def test_database_refuses_an_owner_from_another_organization(organization, outsider):
    error = _violates_on_check(organization=organization, module_id=CONTACTS, owner=outsider)
    assert "record_owner_same_org" in str(error)


@pytest.mark.postgres
def test_database_refuses_a_related_record_from_another_organization(
    organization, admin_user, other_organization, outsider
):
    parent = RecordFactory(organization=other_organization, owner=outsider)
    error = _violates_on_check(
        organization=organization, module_id=TASKS, owner=admin_user, related_to=parent
    )
    assert "record_related_same_org" in str(error)


@pytest.mark.postgres
def test_database_refuses_moving_a_record_to_an_owner_of_another_organization_by_update(
    make_record, outsider
):
    record = make_record()
    with pytest.raises(IntegrityError), transaction.atomic():
        # A set-based UPDATE, as the services write owners: the key holds there too.
        Record.objects.filter(id=record.id).update(owner_id=outsider.id)
        connection.check_constraints()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cross_organization_owner_fails_at_commit():
    zylker, nimbus = OrganizationFactory(name="Zylker"), OrganizationFactory(name="Nimbus")
    outsider = UserFactory(organization=nimbus)
    # The keys are DEFERRABLE INITIALLY DEFERRED: the INSERT passes, the COMMIT refuses it.
    with pytest.raises(IntegrityError, match="record_owner_same_org"), transaction.atomic():
        Record.objects.create(organization=zylker, module_id=CONTACTS, owner=outsider)
    assert not Record.objects.exists()


@pytest.mark.postgres
def test_database_accepts_same_organization_owner_related_record_and_no_owner(
    organization, admin_user
):
    with transaction.atomic():
        parent = Record.objects.create(organization=organization, module_id=CONTACTS, owner=None)
        Record.objects.create(
            organization=organization, module_id=TASKS, owner=admin_user, related_to=parent
        )
        connection.check_constraints()
    assert Record.objects.filter(organization=organization).count() == 2


def test_clean_refuses_an_owner_from_another_organization(organization, outsider):
    record = Record(organization=organization, module_id=CONTACTS, owner=outsider)
    with pytest.raises(ValidationError) as caught:
        record.clean()
    assert caught.value.message_dict == {
        "owner": ["The owner must be a user of the record's organization."]
    }


def test_clean_refuses_a_related_record_from_another_organization(
    organization, admin_user, other_organization, outsider
):
    parent = RecordFactory(organization=other_organization, owner=outsider)
    record = Record(organization=organization, module_id=TASKS, owner=admin_user, related_to=parent)
    with pytest.raises(ValidationError) as caught:
        record.clean()
    assert caught.value.message_dict == {
        "related_to": ["The related record must be in the same organization."]
    }


def test_clean_accepts_same_organization_owner_and_related_record(make_record, admin_user):
    parent = make_record()
    Record(
        organization=parent.organization, module_id=TASKS, owner=admin_user, related_to=parent
    ).clean()


def test_user_clean_refuses_a_profile_or_role_of_another_organization(
    organization, other_organization
):
    user = User(
        organization=organization,
        email="x@zylker.test",
        full_name="X Y",
        profile=Profile.objects.get(organization=other_organization, name="Standard"),
        role=Role.objects.create(organization=other_organization, name="CEO"),
    )
    with pytest.raises(ValidationError) as caught:
        user.clean()
    assert caught.value.message_dict == {
        "profile": ["The profile belongs to another organization."],
        "role": ["The role belongs to another organization."],
    }


def test_every_new_organization_starts_with_the_three_profiles():
    org = Organization.objects.create(name="Fresh")
    assert sorted(org.profiles.values_list("name", "can_change_owner")) == [
        ("Administrator", True),
        ("Read Only", False),
        ("Standard", True),
    ]


def test_profile_names_are_unique_within_an_organization(organization):
    with pytest.raises(IntegrityError), transaction.atomic():
        Profile.objects.create(organization=organization, name="Standard")


def test_the_data_migration_creates_the_seven_modules_with_their_ids_and_labels():
    rows = list(
        Module.objects.order_by("id").values_list(
            "id", "api_name", "singular_label", "plural_label", "is_activity"
        )
    )
    assert rows == sorted(
        (m.id, m.api_name, m.singular_label, m.plural_label, m.is_activity) for m in MODULES
    )
    assert [m.api_name for m in MODULES if m.is_activity] == ["Tasks", "Events", "Calls"]


@pytest.mark.parametrize(
    ("status", "active"), [("active", True), ("disabled", False), ("deleted", False)]
)
def test_only_active_users_are_active(make_user, status, active):
    assert make_user(status=status).is_active is active


SEARCH_INDEXES = (
    "record_org_module_email",
    "record_org_module_phone",
    "record_org_module_mobile",
    "record_org_module_name",
)


@pytest.mark.postgres
def test_the_lookups_design_md_names_have_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'crm_record'")
        indexes = dict(cursor.fetchall())
    assert "(organization_id, module_id, id)" in indexes["record_org_module_id"]
    # What search and the duplicate check read, without case (crm/search.py).
    searched = {name: indexes.pop(name) for name in list(indexes) if name in SEARCH_INDEXES}
    keyed = "(organization_id, module_id, lower((fields ->> '{}'::text)))"
    assert {
        name: definition.split(" USING btree ")[1] for name, definition in searched.items()
    } == {
        "record_org_module_email": keyed.format("Email"),
        "record_org_module_phone": keyed.format("Phone"),
        "record_org_module_mobile": keyed.format("Mobile"),
        "record_org_module_name": "(organization_id, module_id, lower((name)::text))",
    }
    assert indexes.pop("record_org_related_to").split(" USING btree ")[1] == (
        "(organization_id, related_to_id) WHERE (related_to_id IS NOT NULL)"
    )
    columns = sorted(definition.rsplit("(", 1)[1].rstrip(")") for definition in indexes.values())
    # By owner through (organization, owner, module, id), activities by parent through
    # record_org_related_to (activities only); nothing twice (each index is one more write on
    # every change of owner).
    assert columns == [
        "id",
        "id, organization_id",
        "organization_id, module_id, id",
        "organization_id, owner_id, module_id, id",
    ]


def _foreign_keys(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres
def test_a_records_owner_is_checked_by_the_same_organization_key_alone():
    keys = _foreign_keys("crm_record")

    on_owner = sorted(name for name, definition in keys.items() if "(owner_id" in definition)
    # The plain key on owner_id checked each changed row a second time at commit.
    assert on_owner == ["record_owner_same_org"]
    assert keys["record_owner_same_org"] == (
        "FOREIGN KEY (owner_id, organization_id) REFERENCES crm_user(id, organization_id)"
        " DEFERRABLE INITIALLY DEFERRED"
    )


@pytest.mark.postgres
def test_deleting_a_user_checks_records_by_the_owner_key_alone():
    # A key on modified_by_id or created_by_id, which no index serves, made PostgreSQL read every
    # record of every organization once per deleted user and key: deleting a sandbox
    # organization's two users took 2.2 s in a database of 8M records (bench/sandbox.py). The
    # owner's key is checked through record_org_owner_module_id.
    on_users = sorted(
        name for name, definition in _foreign_keys("crm_record").items() if "crm_user" in definition
    )
    assert on_users == ["record_owner_same_org"]


def test_deleting_a_user_through_django_still_empties_who_touched_a_record(
    organization, make_user, make_record
):
    owner, editor = make_user(), make_user()
    record = make_record(owner=owner)
    Record.objects.filter(id=record.id).update(modified_by=editor, created_by=editor)

    editor.delete()

    record.refresh_from_db()
    assert (record.modified_by_id, record.created_by_id, record.owner_id) == (None, None, owner.id)


@pytest.mark.postgres
def test_the_audit_log_has_no_commit_time_key_checks():
    # Its owners are copied from records the same transaction changed, whose composite key
    # refuses another organization's user (audit/models.py); Django still protects what it names.
    assert _foreign_keys("audit_auditentry") == {}


@pytest.mark.postgres
def test_the_parent_key_check_of_a_new_organization_reads_one_index_range():
    """When records are deleted PostgreSQL checks, for each, that no activity still names it:
    `related_to_id = $1 AND organization_id = $2`. For an organization the statistics do not know
    yet (every sandbox organization, every organization just loaded), it estimates one record, and
    an index led by the organization alone looked as cheap as any: each check then read all the
    organization's records (10,000 deleted, 4 s). record_org_related_to names both columns."""
    known, new = OrganizationFactory(), OrganizationFactory()
    contacts, tasks = module_by_name("Contacts"), module_by_name("Tasks")
    Record.objects.bulk_create(
        [Record(organization=known, module_id=contacts.id, name=f"c{n}") for n in range(2000)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_record")
    parents = Record.objects.bulk_create(
        [Record(organization=new, module_id=contacts.id, name=f"p{n}") for n in range(300)]
    )
    Record.objects.bulk_create(
        [
            Record(organization=new, module_id=tasks.id, name="t", related_to=parent)
            for parent in parents
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT 1 FROM ONLY crm_record x WHERE %s = related_to_id"
            " AND %s = organization_id FOR KEY SHARE OF x",
            [parents[0].id, new.id],
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "record_org_related_to" in plan, plan
