"""Fault rules: the control's bodies and errors, and what a faulted call answers in each API
family, before anything else runs (docs/sandbox.md, "Faults"). The same faults seen from real
clients over HTTP: test_faults_live.py."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.models import AccessToken
from crm.sandbox.models import Fault

from .conftest import CHANGE_OWNER, invalid

pytestmark = pytest.mark.django_db


@pytest.fixture
def faults_url(org):
    return f"/sandbox/v1/organizations/{org['organization']['id']}/faults"


def add(controls, url, **rule) -> str:
    answer = controls.post(url, rule, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json() == {"id": answer.json()["id"]}
    return answer.json()["id"]


def test_a_429_answers_in_the_bigin_envelope_with_retry_after_times_then_the_call_goes_through(
    controls, faults_url, api, org
):
    add(
        controls,
        faults_url,
        match={"method": "post", "path": CHANGE_OWNER},
        response={"status": 429, "retry_after": 3},
        times=2,
    )
    body = {"ids": ["3001"], "owner": {"id": org["users"][1]["id"]}}

    answers = [api.post(CHANGE_OWNER, body, format="json") for _ in range(3)]

    for answer in answers[:2]:
        assert answer.status_code == 429
        assert answer["Retry-After"] == "3"
        assert answer.json() == {
            "code": "TOO_MANY_REQUESTS",
            "details": {},
            "message": "Too many requests",
            "status": "error",
        }
    assert answers[2].status_code == 200
    assert answers[2].json()["data"][0]["code"] == "SUCCESS"


def test_the_list_says_what_is_left_of_each_rule(controls, faults_url, api):
    fault_id = add(
        controls, faults_url, match={"path": "/bigin/v2/users"}, response={"status": 500}, times=3
    )
    api.get("/bigin/v2/users")

    listed = controls.get(faults_url)

    created_time = Fault.objects.get().created_time.replace(microsecond=0).isoformat()
    assert listed.status_code == 200
    assert listed.json() == {
        "faults": [
            {
                "id": fault_id,
                "match": {"method": None, "path": "/bigin/v2/users"},
                "response": {
                    "status": 500,
                    "code": "INTERNAL_ERROR",
                    "message": "Internal Server Error",
                    "details": {},
                    "retry_after": None,
                },
                "times": 3,
                "remaining": 2,
                "probability": 1.0,
                "applied": 1,
                "created_time": created_time,
            }
        ]
    }


def test_a_chosen_code_message_and_details_and_a_5xx_without_retry_after(controls, faults_url, api):
    add(
        controls,
        faults_url,
        response={
            "status": 503,
            "code": "SERVICE_UNAVAILABLE",
            "message": "try later",
            "details": {"why": "maintenance"},
        },
    )

    answer = api.get("/bigin/v2/users")

    assert answer.status_code == 503
    assert "Retry-After" not in answer
    assert answer.json() == {
        "code": "SERVICE_UNAVAILABLE",
        "details": {"why": "maintenance"},
        "message": "try later",
        "status": "error",
    }


def test_a_rule_without_match_or_times_answers_every_call_until_deleted(controls, faults_url, api):
    fault_id = add(controls, faults_url, response={"status": 502})

    assert [api.get("/bigin/v2/users").status_code for _ in range(3)] == [502, 502, 502]
    assert api.get("/crm/v8/org").json()["code"] == "INTERNAL_ERROR"

    deleted = controls.delete(f"{faults_url}/{fault_id}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api.get("/bigin/v2/users").status_code == 200
    again = controls.delete(f"{faults_url}/{fault_id}")
    assert (again.status_code, again.json()["details"]) == (
        404,
        {"resource": "fault", "id": fault_id},
    )


def test_delete_all_removes_every_rule_of_the_organization_only(controls, faults_url, created, api):
    other = created(name="Other", users=[{"full_name": "Oz", "email": "oz@other.test"}], records=[])
    other_url = f"/sandbox/v1/organizations/{other['organization']['id']}/faults"
    add(controls, faults_url, response={"status": 500})
    add(controls, faults_url, response={"delay_ms": 10})
    add(controls, other_url, response={"status": 500})

    assert controls.delete(faults_url).status_code == 204

    assert controls.get(faults_url).json() == {"faults": []}
    assert len(controls.get(other_url).json()["faults"]) == 1
    # Another organization's rule never touches this organization's calls.
    assert api.get("/bigin/v2/users").status_code == 200


def test_the_fault_answers_before_anything_else_even_an_expired_token_or_a_bad_body(
    controls, faults_url, api, org
):
    add(controls, faults_url, response={"status": 500}, times=2)
    AccessToken.objects.update(expires_at="2000-01-01T00:00:00Z")

    expired = api.get("/bigin/v2/users")
    bad_body = api.post(CHANGE_OWNER, "not json", content_type="application/json")
    afterwards = api.get("/bigin/v2/users")

    assert (expired.status_code, bad_body.status_code) == (500, 500)
    assert (afterwards.status_code, afterwards.json()["code"]) == (401, "INVALID_TOKEN")


def test_kenbun_and_the_token_server_answer_in_their_own_envelopes(controls, faults_url, api, org):
    add(controls, faults_url, match={"path": "/leads*"}, response={"status": 429}, times=1)
    add(
        controls,
        faults_url,
        match={"path": "/oauth/v2/token"},
        response={"status": 503, "retry_after": 7},
        times=1,
    )

    kenbun = api.get("/leads")
    token = Client().post(
        "/oauth/v2/token",
        urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": org["client"]["client_id"],
                "client_secret": org["client"]["client_secret"],
                "refresh_token": org["users"][0]["refresh_token"],
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )

    assert (kenbun.status_code, kenbun["Retry-After"]) == (429, "1")
    assert kenbun.json() == {"status": "error", "message": "Too many requests"}
    assert (token.status_code, token["Retry-After"], token["Cache-Control"]) == (
        503,
        "7",
        "no-store",
    )
    assert token.json() == {
        "error": "internal_error",
        "error_description": "Internal Server Error",
    }


def test_a_delay_waits_then_answers_as_usual(controls, faults_url, api):
    add(controls, faults_url, response={"delay_ms": 300}, times=1)

    started = time.monotonic()
    answer = api.get("/bigin/v2/users")
    waited = time.monotonic() - started

    assert answer.status_code == 200
    assert waited >= 0.3
    assert controls.get(faults_url).json()["faults"][0]["remaining"] == 0


def test_a_probability_answers_that_share_of_the_calls(controls, faults_url, api):
    add(controls, faults_url, response={"status": 500}, probability=0.5)

    statuses = [api.get("/bigin/v2/users").status_code for _ in range(40)]

    # Binomial(40, 0.5): outside [5, 35] once in ten million runs.
    assert 5 <= statuses.count(500) <= 35
    assert statuses.count(500) + statuses.count(200) == 40
    assert controls.get(faults_url).json()["faults"][0]["applied"] == statuses.count(500)


def test_the_oldest_matching_rule_answers_and_only_one_applies(controls, faults_url, api):
    add(controls, faults_url, match={"path": "/bigin/v2/*"}, response={"status": 500}, times=1)
    add(controls, faults_url, response={"status": 503}, times=1)

    assert [api.get("/bigin/v2/users").status_code for _ in range(3)] == [500, 503, 200]


def test_calls_without_a_known_token_are_never_faulted(controls, faults_url):
    add(controls, faults_url, response={"status": 500})

    anonymous = APIClient().get("/bigin/v2/users")
    unknown = APIClient().get("/bigin/v2/users", HTTP_AUTHORIZATION="Zoho-oauthtoken 1000.x.y")

    assert (anonymous.json()["code"], unknown.json()["code"]) == (
        "AUTHENTICATION_FAILURE",
        "INVALID_TOKEN",
    )


def test_drop_is_refused_where_the_server_cannot_close_a_connection(controls, faults_url):
    # Django's test client, like its development server, hands the application no socket.
    answer = controls.post(faults_url, {"response": {"drop": True}}, format="json")

    assert (answer.status_code, answer.json()) == (
        400,
        {
            "code": "NOT_SUPPORTED",
            "details": {
                "api_name": "drop",
                "json_path": "$.response.drop",
                "reason": (
                    "this server cannot close a connection: serve with gunicorn (make sandbox)"
                ),
            },
            "message": "The requested operation is not supported",
            "status": "error",
        },
    )


def not_supported(api_name: str, json_path: str) -> dict:
    return {
        "code": "NOT_SUPPORTED",
        "details": {"api_name": api_name, "json_path": json_path},
        "message": "The requested operation is not supported",
        "status": "error",
    }


KINDS = [
    {"api_name": "status", "json_path": "$.response.status"},
    {"api_name": "delay_ms", "json_path": "$.response.delay_ms"},
    {"api_name": "drop", "json_path": "$.response.drop"},
]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {},
            {
                "code": "MANDATORY_NOT_FOUND",
                "details": {"api_name": "response", "json_path": "$.response"},
                "message": "required field not found",
                "status": "error",
            },
        ),
        (
            {"response": {}},
            {
                "code": "EXPECTED_FIELD_MISSING",
                "details": {"expected_fields": KINDS},
                "message": "required field not found",
                "status": "error",
            },
        ),
        (
            {"response": []},
            invalid("response", "$.response", expected_data_type="jsonobject"),
        ),
        (
            {"response": {"status": 500, "delay_ms": 10}},
            invalid("response", "$.response", reason="one of status, delay_ms and drop"),
        ),
        (
            {"response": {"status": 200}},
            invalid("status", "$.response.status", minimum=400, maximum=599),
        ),
        (
            {"response": {"status": "500"}},
            invalid("status", "$.response.status", expected_data_type="integer"),
        ),
        (
            {"response": {"status": 429, "retry_after": -1}},
            invalid("retry_after", "$.response.retry_after", minimum=0, maximum=86400),
        ),
        (
            {"response": {"status": 500, "code": ""}},
            invalid("code", "$.response.code", expected_data_type="string"),
        ),
        (
            {"response": {"status": 500, "details": "x"}},
            invalid("details", "$.response.details", expected_data_type="jsonobject"),
        ),
        (
            {"response": {"status": 500, "body": "x"}},
            not_supported("body", "$.response.body"),
        ),
        (
            {"response": {"delay_ms": 0}},
            invalid("delay_ms", "$.response.delay_ms", minimum=1, maximum=20000),
        ),
        (
            {"response": {"delay_ms": 20001}},
            invalid("delay_ms", "$.response.delay_ms", minimum=1, maximum=20000),
        ),
        (
            {"response": {"delay_ms": 10, "status": None, "x": 1}},
            invalid("response", "$.response", reason="one of status, delay_ms and drop"),
        ),
        (
            {"response": {"delay_ms": 10, "x": 1}},
            not_supported("x", "$.response.x"),
        ),
        (
            {"response": {"drop": False}},
            invalid("drop", "$.response.drop", supported_values=[True]),
        ),
        (
            {"response": {"status": 500}, "match": {"method": "TRACE"}},
            invalid(
                "method",
                "$.match.method",
                supported_values=["GET", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ),
        (
            {"response": {"status": 500}, "match": {"path": "bigin"}},
            invalid("path", "$.match.path", expected_data_type="string", reason="a path from /"),
        ),
        (
            {"response": {"status": 500}, "match": "all"},
            invalid("match", "$.match", expected_data_type="jsonobject"),
        ),
        (
            {"response": {"status": 500}, "times": 0},
            invalid("times", "$.times", minimum=1, maximum=1000000),
        ),
        (
            {"response": {"status": 500}, "probability": 0},
            invalid("probability", "$.probability", exclusive_minimum=0, maximum=1),
        ),
        (
            {"response": {"status": 500}, "probability": True},
            invalid("probability", "$.probability", exclusive_minimum=0, maximum=1),
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_its_mistake(controls, faults_url, rule, expected):
    answer = controls.post(faults_url, rule, format="json")

    assert (answer.status_code, answer.json()) == (400, expected)
    assert not Fault.objects.exists()
