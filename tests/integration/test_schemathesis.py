"""The OpenAPI schema tells the truth: schemathesis against a live gunicorn, every operation,
every check (`--checks all`), positive and negative cases.

Fails on any 5xx, any response that does not match its documented schema, any undocumented
status, a refused valid request or an accepted invalid one. `schemathesis.toml` lists the
documented answers a valid request may get besides 2xx (a change of owner whose every record is
unknown is a 400 with per-record data, by the spec).

`make test` runs it with SCHEMATHESIS_MAX_EXAMPLES (default 100) cases per operation and phase
and a fixed seed; `make fuzz` with 2,500 and a random seed (docs/fuzzing.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from crm.models import Organization, User
from crm.oauth.grants import issue_access_token
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # The servers see committed rows; the flush afterwards takes the migrations' rows too
    # (modules, content types), which serialized_rollback puts back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
# A fixed seed keeps `make test` reproducible; `make fuzz` sets SCHEMATHESIS_SEED=random.
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261130")
ALL_SCOPES = [
    f"{family}.{resource}.ALL"
    for family in ("ZohoBigin", "ZohoCRM")
    for resource in ("change_owner", "modules", "users", "settings", "org", "notifications")
] + ["ZohoSearch.securesearch.READ"]  # record search needs it besides the module's


def _schemathesis() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a test dependency (requirements.txt): run make install"
    return found


def test_every_operation_answers_as_its_schema_says(live_gunicorn, tmp_path, capsys):  # noqa: F811
    call_command("seed_demo", verbosity=0)
    # The fuzzing organization's credits are not what is under test here.
    Organization.objects.update(api_credits_per_day=10_000_000)
    admin = User.objects.get(email="ann.lee@zylker.test")
    token = issue_access_token(user=admin, scopes=ALL_SCOPES)
    server = live_gunicorn(workers=2)
    report = tmp_path / "schemathesis.json"
    command = [
        _schemathesis(),
        "run",
        f"{server.url}/api/schema/?format=json",
        "--url",
        server.url,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker thread: with two, hypothesis parses lambdas' source in both threads at once,
        # and CPython 3.11's ast module is not safe for that (a CI run stopped on "SystemError:
        # AST constructor recursion depth mismatch" inside schemathesis, the server blameless).
        "--workers",
        "1",
        "--header",
        f"Authorization: Zoho-oauthtoken {token}",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    if SEED != "random":
        command += ["--seed", SEED]
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=4 * 3600
    )
    seconds = time.monotonic() - started
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]["generated"]
    operations = summary["operations"]
    # One line in `make test`'s output, for people who quote the run (docs/fuzzing.md).
    with capsys.disabled():
        print(
            f"\nschemathesis: {cases} cases, {operations['tested']}/{operations['total']} "
            f"operations, {summary['test_cases']['with_failures']} failing, seed {summary['seed']}"
        )
    if os.environ.get("FUZZ_RESULTS"):
        # `make fuzz` keeps its run, failing or not, for docs/ (bench/publish_docs.py).
        Path(os.environ["FUZZ_RESULTS"]).write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "commit": subprocess.run(
                        ["git", "rev-parse", "--short", "HEAD"],
                        cwd=settings.BASE_DIR,
                        capture_output=True,
                        text=True,
                    ).stdout.strip(),
                    "seed": summary["seed"],
                    "max_examples": MAX_EXAMPLES,
                    "cases": cases,
                    "operations_tested": operations["tested"],
                    "operations_total": operations["total"],
                    "failures": summary["test_cases"]["with_failures"],
                    "seconds": round(seconds),
                },
                indent=2,
            )
            + "\n"
        )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert summary["failures"] == [] and summary["errors"] == []
    assert operations["tested"] == operations["total"] > 0
    assert "Traceback" not in server.log_text()
