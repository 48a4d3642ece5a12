from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from crm.models import Organization, Profile, Record, Role, User
from crm.modules import module_by_name

pytestmark = pytest.mark.django_db

# The example of design.md, verbatim.
EXAMPLE = json.loads(
    """
{"organizations": [{
  "id": "10001", "name": "Zylker",
  "users":   [{"id": "2001", "full_name": "Ann Lee", "email": "ann@zylker.test",
               "status": "active", "profile": "Administrator", "role": "CEO"}],
  "records": [{"module": "Contacts", "id": "3001", "owner": "2001", "name": "Smith",
               "fields": {"Last_Name": "Smith", "Email": "s@x.test"}},
              {"module": "Tasks", "id": "4001", "owner": "2001", "related_to": "3001",
               "name": "Call back", "fields": {"Subject": "Call back"}}]
}]}
"""
)


def write(tmp_path: Path, data: Any, name: str = "sandbox.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def load_sandbox(path: str) -> str:
    out = StringIO()
    call_command("load_sandbox", path, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row the loader can touch, every column, modified times included."""
    return {
        model.__name__: list(model.objects.order_by("id").values())
        for model in (Organization, Profile, Role, User, Record)
    }


def test_example_creates_exactly_what_it_names_with_the_given_ids(tmp_path):
    output = load_sandbox(write(tmp_path, EXAMPLE))

    assert output == (
        f"Loaded {tmp_path / 'sandbox.json'}: organizations: 1 created, 0 updated; "
        "users: 1 created, 0 updated; records: 2 created, 0 updated\n"
    )
    assert list(Organization.objects.values_list("id", "name")) == [(10001, "Zylker")]
    assert list(Role.objects.values_list("organization_id", "name")) == [(10001, "CEO")]
    assert list(
        User.objects.values_list(
            "id", "organization_id", "full_name", "email", "status", "profile__name", "role__name"
        )
    ) == [(2001, 10001, "Ann Lee", "ann@zylker.test", "active", "Administrator", "CEO")]
    assert not User.objects.get(id=2001).has_usable_password()
    assert list(
        Record.objects.order_by("id").values_list(
            "id", "organization_id", "module_id", "owner_id", "name", "fields", "related_to_id"
        )
    ) == [
        (
            3001,
            10001,
            module_by_name("Contacts").id,
            2001,
            "Smith",
            {"Last_Name": "Smith", "Email": "s@x.test"},
            None,
        ),
        (
            4001,
            10001,
            module_by_name("Tasks").id,
            2001,
            "Call back",
            {"Subject": "Call back"},
            3001,
        ),
    ]


def test_loading_the_same_file_twice_changes_nothing(tmp_path):
    path = write(tmp_path, EXAMPLE)
    load_sandbox(path)
    before = snapshot()

    output = load_sandbox(path)

    assert snapshot() == before
    assert output.endswith(
        "organizations: 0 created, 0 updated; users: 0 created, 0 updated; "
        "records: 0 created, 0 updated\n"
    )


def test_a_changed_entry_updates_that_row_only(tmp_path):
    load_sandbox(write(tmp_path, EXAMPLE))
    before = snapshot()
    changed = copy.deepcopy(EXAMPLE)
    changed["organizations"][0]["records"][0]["fields"]["Email"] = "new@x.test"

    output = load_sandbox(write(tmp_path, changed, "changed.json"))

    assert "records: 0 created, 1 updated" in output
    after = snapshot()
    contact_before, task_before = before["Record"]
    contact_after, task_after = after["Record"]
    assert contact_after["fields"] == {"Last_Name": "Smith", "Email": "new@x.test"}
    assert contact_after["modified_time"] > contact_before["modified_time"]
    assert task_after == task_before
    assert {k: v for k, v in after.items() if k != "Record"} == {
        k: v for k, v in before.items() if k != "Record"
    }


def test_ids_may_be_json_integers_and_may_be_left_out(tmp_path):
    data = {
        "organizations": [
            {
                "name": "Nimbus",
                "users": [{"id": 2002, "full_name": "Gus Harper", "email": "Gus@Nimbus.test"}],
                "records": [{"module": "Accounts", "owner": 2002, "name": "Acme"}],
            }
        ]
    }
    path = write(tmp_path, data)
    load_sandbox(path)
    load_sandbox(path)  # matched by name and email the second time, not duplicated

    org = Organization.objects.get(name="Nimbus")
    user = User.objects.get(id=2002)
    assert (user.email, user.status, user.profile.name, user.role) == (
        "gus@nimbus.test",
        "active",
        "Standard",
        None,
    )
    record = Record.objects.get(organization=org)
    assert (record.module_id, record.owner_id, record.name, record.fields) == (
        module_by_name("Accounts").id,
        2002,
        "Acme",
        {},
    )


def _with(change) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    change(data["organizations"][0])
    return data


def _second_org(org: dict[str, Any]) -> dict[str, Any]:
    return {"id": "10002", "name": "Nimbus", "users": [], "records": [], **org}


# Each case: the file, and the message after "<path>: ". Every file but the last few starts with
# a sound entry, to show that nothing of it is written either.
MALFORMED = {
    "bad module": (
        _with(lambda o: o["records"][0].update(module="Leads")),
        "organizations[0].records[0]: module 'Leads' is not a Bigin module",
    ),
    "module in the wrong case": (
        _with(lambda o: o["records"][0].update(module="contacts")),
        "organizations[0].records[0]: module 'contacts' is not a Bigin module",
    ),
    "unknown owner id": (
        _with(lambda o: o["records"][1].update(owner="9999")),
        "organizations[0].records[1]: owner 9999 is not a user of this organization",
    ),
    "duplicate id": (
        _with(lambda o: o["records"][1].update(id="3001")),
        "organizations[0].records[1]: duplicate id 3001 (also organizations[0].records[0])",
    ),
    "duplicate id across kinds": (
        _with(lambda o: o["records"][0].update(id="2001")),
        "organizations[0].records[0]: duplicate id 2001 (also organizations[0].users[0])",
    ),
    "non-numeric id": (
        _with(lambda o: o["records"][0].update(id="30x1")),
        "organizations[0].records[0]: id '30x1' is not a numeric id",
    ),
    "unknown related record": (
        _with(lambda o: o["records"][1].update(related_to="3999")),
        "organizations[0].records[1]: related_to 3999 is not a record of this organization",
    ),
    "related_to on a contact": (
        _with(lambda o: o["records"][0].update(related_to="4001")),
        "organizations[0].records[0]: only Tasks, Events and Calls can be related to a record",
    ),
    "activity related to an activity": (
        _with(
            lambda o: o["records"].append(
                {"module": "Calls", "id": "4002", "owner": "2001", "related_to": "4001"}
            )
        ),
        "organizations[0].records[2]: related_to 4001 is an activity, not its parent record",
    ),
    "bad status": (
        _with(lambda o: o["users"][0].update(status="retired")),
        "organizations[0].users[0]: status 'retired' is not one of active, disabled, deleted",
    ),
    "unknown profile": (
        _with(lambda o: o["users"][0].update(profile="Manager")),
        "organizations[0].users[0]: profile 'Manager' is not one of Administrator, Read Only, "
        "Standard",
    ),
    "status of the wrong type": (
        _with(lambda o: o["users"][0].update(status=["active"])),
        "organizations[0].users[0]: status ['active'] is not one of active, disabled, deleted",
    ),
    "missing email": (
        _with(lambda o: o["users"][0].pop("email")),
        "organizations[0].users[0]: email must be a non-empty string",
    ),
    "fields not an object": (
        _with(lambda o: o["records"][0].update(fields=["Smith"])),
        "organizations[0].records[0]: fields must be an object",
    ),
    "owner of another organization in the same file": (
        {
            "organizations": [
                EXAMPLE["organizations"][0],
                _second_org({"records": [{"module": "Contacts", "owner": "2001", "name": "X"}]}),
            ]
        },
        "organizations[1].records[0]: owner 2001 is not a user of this organization",
    ),
    "duplicate email": (
        {
            "organizations": [
                EXAMPLE["organizations"][0],
                _second_org({"users": [{"full_name": "Ann Twin", "email": "ANN@zylker.test"}]}),
            ]
        },
        "organizations[1].users[0]: duplicate email ann@zylker.test (also "
        "organizations[0].users[0])",
    ),
    "no organizations array": (
        {"orgs": []},
        'the file must be an object with an "organizations" array',
    ),
}


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_names_the_entry_and_writes_nothing(tmp_path, data, message):
    load_sandbox(write(tmp_path, {"organizations": [{"id": "90001", "name": "Before"}]}, "a.json"))
    before = snapshot()
    path = write(tmp_path, data)

    with pytest.raises(CommandError) as caught:
        load_sandbox(path)

    assert str(caught.value) == f"{path}: {message}; nothing was written"
    assert snapshot() == before


def test_invalid_json_is_reported_with_its_position_and_writes_nothing(tmp_path):
    load_sandbox(write(tmp_path, EXAMPLE, "example.json"))
    before = snapshot()
    path = write(tmp_path, '{"organizations": [\n  {"id": "10001"\n   "name": "Renamed"}\n]}')

    with pytest.raises(CommandError) as caught:
        load_sandbox(path)

    assert str(caught.value) == f"{path}: invalid JSON at line 3 column 4: Expecting ',' delimiter"
    assert snapshot() == before


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"organizations": [{"name": "Zürich"}]}'.encode("latin-1"))
    with pytest.raises(CommandError) as caught:
        load_sandbox(str(path))
    assert str(caught.value) == f"{path}: not UTF-8 text (invalid start byte at byte 30)"


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(CommandError) as caught:
        load_sandbox(str(tmp_path / "nope.json"))
    assert str(caught.value) == f"{tmp_path / 'nope.json'}: No such file or directory"


class TestAgainstTheDatabase:
    """Entries that are sound on their own but clash with what is already loaded."""

    @pytest.fixture(autouse=True)
    def loaded(self, tmp_path):
        load_sandbox(write(tmp_path, EXAMPLE, "example.json"))

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            (
                {"id": "10002", "name": "Zylker"},
                "organizations[0]: name 'Zylker' belongs to organization 10001",
            ),
            (
                {
                    "id": "10002",
                    "name": "Nimbus",
                    "users": [{"full_name": "Ann Lee", "email": "ann@zylker.test"}],
                },
                "organizations[0].users[0]: email ann@zylker.test belongs to another user (2001)",
            ),
            (
                {
                    "id": "10002",
                    "name": "Nimbus",
                    "users": [{"id": "2001", "full_name": "Ann Lee", "email": "a@nimbus.test"}],
                },
                "organizations[0]: user id 2001 is a user of another organization",
            ),
            (
                {
                    "id": "10002",
                    "name": "Nimbus",
                    "records": [{"module": "Contacts", "id": "3001", "name": "Smith"}],
                },
                "organizations[0].records[0]: id 3001 is a record of another organization",
            ),
            (
                {
                    "id": "10002",
                    "name": "Nimbus",
                    "records": [{"module": "Tasks", "related_to": "3001", "name": "T"}],
                },
                "organizations[0].records[0]: related_to 3001 is not a record of this organization",
            ),
        ],
        ids=[
            "org name taken",
            "email taken",
            "user id elsewhere",
            "record id elsewhere",
            "parent elsewhere",
        ],
    )
    def test_clashes_are_named_and_nothing_is_written(self, tmp_path, entry, message):
        before = snapshot()
        path = write(tmp_path, {"organizations": [entry]})
        with pytest.raises(CommandError) as caught:
            load_sandbox(path)
        assert str(caught.value) == f"{path}: {message}; nothing was written"
        assert snapshot() == before

    def test_a_later_file_may_use_users_and_records_already_loaded(self, tmp_path):
        later = {
            "organizations": [
                {
                    "name": "Zylker",
                    "records": [
                        {"module": "Calls", "id": "4002", "owner": "2001", "related_to": "3001"}
                    ],
                }
            ]
        }
        load_sandbox(write(tmp_path, later))
        assert Record.objects.get(id=4002).related_to_id == 3001
