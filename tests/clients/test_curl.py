"""Bigin's documented change-owner sample, run through curl itself against a live server:

    curl "https://www.zohoapis.com/bigin/v2/Contacts/actions/change_owner" -X POST
      -H "Authorization: Zoho-oauthtoken 1000.8cb99dxxxxxxxxxxxxx9be93.9b8xxxxxxxxxxxxxxxf"
      -d "@newowner.json"

`curl -d @file` sends the file as `application/x-www-form-urlencoded` (and strips its newlines);
Zoho reads it as JSON all the same, and so must we."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from crm.models import Record
from crm.oauth.grants import issue_access_token
from tests.conftest import IN_CI

# Transactional tests flush every table afterwards; serialized_rollback puts back the module rows
# the migrations created.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _curl() -> str:
    curl = shutil.which("curl")
    if curl is None:
        if IN_CI:
            pytest.fail("needs curl (CI=true: a missing component is a failure, not a skip)")
        pytest.skip("needs curl")
    return curl


@pytest.mark.parametrize("prefix", ["/bigin/v2", "/crm/v8"])
def test_bigins_curl_sample_answers_200_with_success_entries(prefix, world, live_server, tmp_path):
    curl = _curl()
    contacts = world["contacts"][:2]
    token = issue_access_token(
        user=world["ann"], scopes=["ZohoBigin.change_owner.CREATE", "ZohoCRM.change_owner.CREATE"]
    )
    # Pretty-printed over several lines, as the docs show the file.
    body = {
        "ids": [str(c.id) for c in contacts],
        "owner": {"id": str(world["bo"].id)},
        "notify": True,
    }
    (tmp_path / "newowner.json").write_text(json.dumps(body, indent=4) + "\n")
    done = subprocess.run(
        [
            curl,
            "-sS",
            "-w",
            "\n%{http_code} %{content_type}",
            f"{live_server.url}{prefix}/Contacts/actions/change_owner",
            "-X",
            "POST",
            "-H",
            f"Authorization: Zoho-oauthtoken {token}",
            "-d",
            "@newowner.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text, _, status_line = done.stdout.rpartition("\n")
    assert status_line == "200 application/json"
    assert json.loads(text) == {
        "data": [
            {
                "code": "SUCCESS",
                "details": {"id": str(c.id)},
                "message": "owner is successfully updated",
                "status": "success",
            }
            for c in contacts
        ]
    }
    assert [Record.objects.get(pk=c.pk).owner_id for c in contacts] == [world["bo"].id] * 2
