"""What the API limits (credits and requests in flight, crm/http/metering.py) cost per request.

1. In process: the throttle's admission and release of one request, on Redis and in-process.
2. HTTP: gunicorn with metering on and off (API_LIMITS_ENABLED), wrk on the cheapest
   authenticated endpoint (GET /bigin/v2/settings/modules: the token lookup and nothing else), so
   metering's share is as large as it can be; interleaved rounds. The ratio is requests per second
   with metering over without.

Part of `make bench` (bench/run.py); alone: `.venv/bin/python -m bench.metering` (with `wrk`
installed, as `make bench` does).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from datetime import timedelta
from time import perf_counter

ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "5"))
IN_PROCESS_RUNS = 5000
PATH = "/bigin/v2/settings/modules"
SCOPE = "ZohoBigin.settings.ALL"
GUNICORN = {"workers": 2, "worker_class": "sync", "threads": 1}


def _in_process(data) -> dict[str, float]:
    """Microseconds per request that admission plus release add, by store: each loop's time per
    request minus that of the same loop with metering off (which still builds the request)."""
    from django.test import override_settings
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from crm.http import limits
    from crm.http.metering import OrganizationLimits

    throttle, factory = OrganizationLimits(), APIRequestFactory()

    def per_request_us() -> float:
        started = perf_counter()
        for _ in range(IN_PROCESS_RUNS):
            request = Request(factory.get(PATH))
            request.user = data.actor
            throttle.allow_request(request, None)
            release = getattr(request._request, "api_limits_release", None)
            if release is not None:
                release()
        return (perf_counter() - started) / IN_PROCESS_RUNS * 1e6

    stores = {"redis": os.environ.get("REDIS_URL", ""), "in_process": ""}
    figures = {}
    with override_settings(API_LIMITS_ENABLED=False):
        baseline = per_request_us()
    for name, url in stores.items():
        if name == "redis" and not url:
            continue
        with override_settings(API_LIMITS_REDIS_URL=url, API_LIMITS_KEY_PREFIX="bench-metering:"):
            limits._store_for.cache_clear()
            figures[name + "_us"] = per_request_us() - baseline
        limits._store_for.cache_clear()
    return figures


def _wrk(port: int, token: str) -> float:
    from .load import wrk_available

    completed = subprocess.run(
        [
            wrk_available(),
            "--threads=2",
            "--connections=8",
            f"--duration={SECONDS}s",
            "--header",
            f"Authorization: Zoho-oauthtoken {token}",
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    if "Non-2xx" in completed.stdout:
        raise RuntimeError(f"wrk saw errors:\n{completed.stdout}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", completed.stdout).group(1))


def _http(data) -> dict:
    from crm.oauth.grants import issue_access_token

    from .load import gunicorn, request

    token = issue_access_token(user=data.actor, scopes=[SCOPE], expires_in=timedelta(hours=1))
    rps: dict[str, list[float]] = {"metered": [], "unmetered": []}
    servers = {
        "metered": {**os.environ, "API_LIMITS_ENABLED": "true"},
        "unmetered": {**os.environ, "API_LIMITS_ENABLED": "false"},
    }
    # Both servers stay up; the rounds alternate between them.
    with (
        gunicorn(**GUNICORN, env=servers["metered"]) as (metered_port, _),
        gunicorn(**GUNICORN, env=servers["unmetered"]) as (unmetered_port, _),
    ):
        ports = {"metered": metered_port, "unmetered": unmetered_port}
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        for port in ports.values():
            status, content = request(port, "GET", PATH, None, headers)
            if status != 200:
                raise RuntimeError(f"{PATH} answered {status}: {content[:300]!r}")
        for _ in range(ROUNDS):
            for name, port in ports.items():
                rps[name].append(_wrk(port, token))
    metered, unmetered = statistics.median(rps["metered"]), statistics.median(rps["unmetered"])
    return {
        "path": PATH,
        "rps_metered": metered,
        "rps_unmetered": unmetered,
        "ratio": metered / unmetered,
        "rounds": rps,
    }


def measure(data) -> dict:
    from crm.models import Organization

    # The bench's organization must not run out of credits while it is measured.
    Organization.objects.filter(pk=data.organization.pk).update(api_credits_per_day=10**9)
    data.organization.refresh_from_db()
    data.actor.organization = data.organization
    result = {"in_process": _in_process(data), "http": _http(data)}
    http = result["http"]
    lines = [
        "metering: in process "
        + ", ".join(f"{name} {value:.0f} us" for name, value in result["in_process"].items())
        + " per request (admission + release)",
        f"metering: HTTP {PATH}: {http['rps_metered']:.0f} req/s metered, "
        f"{http['rps_unmetered']:.0f} unmetered, ratio {http['ratio']:.3f}",
    ]
    print("\n".join(lines), flush=True)
    return result


def main() -> None:
    """Alone, on a small organization of its own (created once in the bench database)."""
    import sys
    from pathlib import Path

    from . import environment

    environment.configure_environment()
    environment.ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    from crm.models import Organization, User

    call_command("migrate", verbosity=0)
    organization, _ = Organization.objects.get_or_create(name="Bench metering (scratch data)")
    actor = User.objects.filter(organization=organization).first() or User.objects.create_user(
        email="metering@bench.test",
        organization=organization,
        profile=organization.profiles.get(name="Administrator"),
        full_name="Bench Metering",
    )

    class Data:
        pass

    data = Data()
    data.organization, data.actor = organization, actor
    measure(data)


if __name__ == "__main__":
    main()
