"""Zoho's criteria object: every validation error with its exact body, and what each comparator
selects, evaluated by the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.http.errors import ApiError
from crm.models import Record
from crm.modules import module_by_name
from owners.transfers.criteria import criteria_condition, parse_criteria

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")


@pytest.fixture(autouse=True)
def contact_fields(make_record):
    """The Contacts of the organization have the data fields State and Score (as
    GET /settings/fields?module=Contacts lists them)."""
    return make_record(module_name="Contacts", fields={"State": "WA", "Score": 1})


@pytest.fixture
def parse(organization):
    def parse(value, module="Contacts"):
        return parse_criteria(value, organization=organization, modules=[module_by_name(module)])

    return parse


@pytest.fixture
def error_body(parse):
    def error_body(value, module="Contacts") -> dict:
        with pytest.raises(ApiError) as caught:
            parse(value, module)
        return {"status_code": caught.value.status_code, **caught.value.body()}

    return error_body


def invalid(details: dict, message: str = "invalid data") -> dict:
    return {
        "status_code": 400,
        "code": "INVALID_DATA",
        "details": details,
        "message": message,
        "status": "error",
    }


def mandatory(api_name: str, json_path: str) -> dict:
    return {
        "status_code": 400,
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": api_name, "json_path": json_path},
        "message": "required field not found",
        "status": "error",
    }


def cond(api_name, comparator, value) -> dict:
    return {"field": {"api_name": api_name}, "comparator": comparator, "value": value}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (
            "Owner",
            invalid(
                {
                    "api_name": "criteria",
                    "json_path": "$.criteria",
                    "expected_data_type": "jsonobject",
                }
            ),
        ),
        ({"comparator": "equal", "value": 1}, mandatory("field", "$.criteria.field")),
        (
            {"field": {}, "comparator": "equal", "value": 1},
            mandatory("api_name", "$.criteria.field.api_name"),
        ),
        (
            {"field": {"api_name": "Owner"}, "value": 1},
            mandatory("comparator", "$.criteria.comparator"),
        ),
        (
            {"field": {"api_name": "Owner"}, "comparator": "equal"},
            mandatory("value", "$.criteria.value"),
        ),
        (
            cond("Owner", "like", {"id": "1"}),
            invalid({"api_name": "comparator", "json_path": "$.criteria.comparator"}),
        ),
        (
            cond("a b", "equal", 1),
            invalid({"api_name": "a b", "json_path": "$.criteria.field.api_name"}),
        ),
        (
            {"field": {"api_name": 5}, "comparator": "equal", "value": 1},
            invalid({"api_name": "api_name", "json_path": "$.criteria.field.api_name"}),
        ),
        (
            cond("Owner", "equal", {"id": "x"}),
            invalid(
                {"api_name": "value", "json_path": "$.criteria.value", "expected_data_type": "long"}
            ),
        ),
        (
            cond("State", "in", "CA"),
            invalid(
                {
                    "api_name": "value",
                    "json_path": "$.criteria.value",
                    "expected_data_type": "jsonarray",
                }
            ),
        ),
        (
            cond("Created_Time", "between", ["2026-01-01T00:00:00+00:00"]),
            invalid(
                {
                    "api_name": "value",
                    "json_path": "$.criteria.value",
                    "expected_data_type": "jsonarray",
                }
            ),
        ),
        (
            cond("Created_Time", "greater_than", "yesterday"),
            invalid(
                {
                    "api_name": "value",
                    "json_path": "$.criteria.value",
                    "expected_data_type": "datetime",
                }
            ),
        ),
        (
            cond("State", "equal", {"a": 1}),
            invalid(
                {
                    "api_name": "value",
                    "json_path": "$.criteria.value",
                    "expected_data_type": "string",
                }
            ),
        ),
        (
            {"group_operator": "xor", "group": [cond("State", "equal", "CA")]},
            invalid({"api_name": "group_operator", "json_path": "$.criteria.group_operator"}),
        ),
        (
            {"group": [cond("State", "equal", "CA")]},
            mandatory("group_operator", "$.criteria.group_operator"),
        ),
        ({"group_operator": "and", "group": []}, mandatory("group", "$.criteria.group")),
        (
            {
                "group_operator": "and",
                "group": [cond("State", "equal", "CA"), {"field": {"api_name": "Score"}}],
            },
            mandatory("comparator", "$.criteria.group[1].comparator"),
        ),
        (
            {"group_operator": "or", "group": [cond("State", "equal", str(n)) for n in range(26)]},
            {
                "status_code": 400,
                "code": "LIMIT_EXCEEDED",
                "details": {
                    "limit": 25,
                    "api_name": "criteria",
                    "json_path": "$.criteria.group[25]",
                },
                "message": "Limit Exceeded, You cannot give more than 25 criteria",
                "status": "error",
            },
        ),
    ],
)
def test_invalid_criteria_answer_with_the_json_path_of_the_mistake(error_body, criteria, expected):
    assert error_body(criteria) == expected


def test_groups_nest_five_levels_deep_at_most(parse, error_body):
    criteria = cond("State", "equal", "CA")
    for _ in range(4):
        criteria = {"group_operator": "and", "group": [criteria]}
    assert parse(criteria)  # five levels: the condition is the fifth
    too_deep = {"group_operator": "and", "group": [criteria]}
    assert error_body(too_deep) == {
        "status_code": 400,
        "code": "LIMIT_EXCEEDED",
        "details": {
            "limit": 5,
            "api_name": "group",
            "json_path": "$.criteria" + ".group[0]" * 5,
        },
        "message": "Limit Exceeded, You cannot nest criteria more than 5 levels deep",
        "status": "error",
    }


def test_normal_form_keeps_ids_as_strings_and_lower_cases_operators(parse):
    assert parse(
        {
            "group_operator": "AND",
            "group": [cond("Owner", "equal", {"id": 12}), cond("id", "in", [3, "4"])],
        }
    ) == {
        "group_operator": "and",
        "group": [cond("Owner", "equal", {"id": "12"}), cond("id", "in", ["3", "4"])],
    }


@pytest.mark.parametrize(
    ("criteria", "module"),
    [
        (cond("State__regex", "equal", ".*"), "Contacts"),
        (cond("State__range", "equal", "CA"), "Contacts"),
        (cond("Industry", "equal", "Retail"), "Contacts"),  # a field of Accounts
        (cond("State", "equal", "CA"), "Accounts"),  # a field of Contacts
        (cond("What_Id", "equal", {"id": "1"}), "Contacts"),  # activities only
        # Listed by /settings/fields, but no criteria field: not a column we map.
        (cond("Modified_By", "equal", {"id": "1"}), "Contacts"),
        (cond("$se_module", "equal", "Contacts"), "Tasks"),
        (cond("fields", "equal", {}), "Contacts"),
    ],
)
def test_a_name_that_is_no_field_of_the_module_is_invalid_data(
    make_record, error_body, criteria, module
):
    make_record(module_name="Accounts", fields={"Industry": "Retail"})

    assert error_body(criteria, module) == invalid(
        {"api_name": criteria["field"]["api_name"], "json_path": "$.criteria.field.api_name"}
    )


def test_the_fields_metadata_decides(make_record, parse):
    make_record(module_name="Accounts", fields={"Industry": "Retail"})

    assert parse(cond("Industry", "equal", "Retail"), "Accounts")
    assert parse(cond("What_Id", "equal", {"id": "1"}), "Tasks")
    for system in ("Owner", "id"):
        assert parse(cond(system, "equal", {"id": "1"}), "Accounts")


def test_a_job_over_several_modules_names_fields_each_of_them_has(organization, make_record):
    make_record(module_name="Accounts", fields={"Industry": "Retail", "State": "CA"})
    both = [module_by_name("Contacts"), module_by_name("Accounts")]

    assert parse_criteria(cond("State", "equal", "CA"), organization=organization, modules=both)
    with pytest.raises(ApiError) as caught:
        parse_criteria(cond("Industry", "equal", "x"), organization=organization, modules=both)
    assert caught.value.details == {
        "api_name": "Industry",
        "json_path": "$.criteria.field.api_name",
    }


@pytest.fixture
def people(make_record, admin_user, make_user):
    other = make_user(full_name="Other Rep", email="other@zylker.test")
    rows = [
        ("Ann", {"State": "CA", "Score": 10}, admin_user, datetime(2026, 1, 1, tzinfo=UTC)),
        ("Bob", {"State": "NV", "Score": 20}, admin_user, datetime(2026, 2, 1, tzinfo=UTC)),
        ("Cy", {"State": "Carolina", "Score": 30}, other, datetime(2026, 3, 1, tzinfo=UTC)),
        ("Di", {}, other, datetime(2026, 4, 1, tzinfo=UTC)),
    ]
    records = {
        name: make_record(name=name, fields=fields, owner=owner, created_time=created)
        for name, fields, owner, created in rows
    }
    return records, other


@pytest.fixture
def selected(parse, contact_fields):
    def selected(criteria) -> set[str]:
        condition = criteria_condition(parse(criteria))
        names = Record.objects.filter(condition).exclude(pk=contact_fields.pk)
        return set(names.values_list("name", flat=True))

    return selected


def test_each_comparator_selects_in_the_database(people, admin_user, selected):
    records, other = people
    assert selected(cond("Owner", "equal", {"id": str(other.id)})) == {"Cy", "Di"}
    assert selected(cond("Owner", "not_equal", {"id": str(other.id)})) == {"Ann", "Bob"}
    assert selected(cond("State", "equal", "CA")) == {"Ann"}
    assert selected(cond("State", "not_equal", "CA")) == {"Bob", "Cy", "Di"}
    assert selected(cond("State", "in", ["CA", "NV"])) == {"Ann", "Bob"}
    assert selected(cond("State", "not_in", ["CA", "NV"])) == {"Cy", "Di"}
    assert selected(cond("State", "starts_with", "C")) == {"Ann", "Cy"}
    assert selected(cond("Score", "greater_than", 15)) == {"Bob", "Cy"}
    assert selected(cond("Score", "less_than", 15)) == {"Ann"}
    assert selected(cond("Score", "between", [10, 20])) == {"Ann", "Bob"}
    assert selected(
        cond("Created_Time", "between", ["2026-01-15T00:00:00+00:00", "2026-03-01T00:00:00Z"])
    ) == {"Bob", "Cy"}
    assert selected(cond("id", "in", [str(records["Di"].id)])) == {"Di"}
    assert selected(
        {
            "group_operator": "or",
            "group": [
                cond("State", "equal", "NV"),
                {
                    "group_operator": "and",
                    "group": [
                        cond("Owner", "equal", {"id": str(other.id)}),
                        cond("State", "starts_with", "Car"),
                    ],
                },
            ],
        }
    ) == {"Bob", "Cy"}


def test_a_name_that_got_past_the_parser_is_one_key_never_a_lookup(people):
    """Even a normal form built by hand (an old job row, a caller that skipped parse_criteria)
    cannot make a name a lookup path: `State__regex` is a key no record has."""

    def matched(criteria) -> int:
        return Record.objects.filter(criteria_condition(criteria)).count()

    assert matched(cond("State__regex", "equal", ".*")) == 0
    assert matched(cond("State__range", "equal", "CA")) == 0
    assert matched(cond("State__isnull", "not_equal", False)) == Record.objects.count()
