"""Watch channels and the change-owner call: the single-record change owner through the API
(the DRF stack in process, `POST /bigin/v2/Contacts/{id}/actions/change_owner`) in an
organization that watches nothing and in one with 3 channels watching `Contacts.edit`, one of
them pointing at a dead address, interleaved run by run in the same process.

The callbacks are the workers' (docs/notifications.md): what a channel costs the call is the
watch event its audit statement writes (no query more) and one more task message published
after commit. The dead address must cost it nothing; this shows it. `make bench` runs it last;
alone: `python -m bench.watch` (BENCH_WATCH_RUNS, default 200). Writes bench/results/watch.json
and, through bench/publish_docs.py, the generated block of docs/notifications.md. No Django at
module level (publish_docs imports `lines`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RUNS = int(os.environ.get("BENCH_WATCH_RUNS", "200"))
WARMUP = 10
SCOPES = ["ZohoBigin.change_owner.ALL"]
# Ours: what three channels (one of them dead) may add to the call's median latency. They add
# the event rows the audit statement writes and one task message after commit, nothing that
# waits on a receiver.
GOAL_RATIO = 1.1


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"


def _organization(name: str, channels: int):
    from django.utils import timezone

    from crm.models import Organization, Profile, Record, User
    from crm.modules import module_by_name
    from crm.oauth.grants import issue_access_token
    from owners.models import WatchChannel

    organization, _ = Organization.objects.get_or_create(name=name)
    profile = Profile.objects.get(organization=organization, name="Administrator")
    users = [
        User.objects.get_or_create(
            email=f"watch-{channels}-{n}@bench-watch.test",
            defaults={"organization": organization, "full_name": f"Owner {n}", "profile": profile},
        )[0]
        for n in range(2)
    ]
    record, _ = Record.objects.get_or_create(
        organization=organization,
        module_id=module_by_name("Contacts").id,
        name="Watched contact",
        defaults={"owner": users[0], "fields": {"Last_Name": "Watched"}},
    )
    WatchChannel.objects.filter(organization=organization).delete()
    urls = [_dead_url(), "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"][:channels]
    for number, url in enumerate(urls, start=1):
        WatchChannel.objects.create(
            organization=organization,
            channel_id=number,
            events=["Contacts.edit"],
            notify_url=url,
            channel_expiry=timezone.now() + timedelta(hours=1),
        )
    token = issue_access_token(user=users[0], scopes=SCOPES)
    return record, users, token


def measure() -> dict:
    from rest_framework.test import APIClient

    from .load import summary

    sides = {}
    for channels in (0, 3):
        record, users, token = _organization(f"Watch bench ({channels} channels)", channels)
        client = APIClient(SERVER_NAME="127.0.0.1")  # one of ALLOWED_HOSTS
        client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
        sides[channels] = {"record": record, "users": users, "client": client, "turn": 0}

    def once(channels: int) -> float:
        side = sides[channels]
        side["turn"] += 1
        owner = side["users"][side["turn"] % 2]
        start = perf_counter()
        response = side["client"].post(
            f"/bigin/v2/Contacts/{side['record'].id}/actions/change_owner",
            {"owner": {"id": str(owner.id)}},
            format="json",
        )
        elapsed = (perf_counter() - start) * 1000
        assert response.status_code == 200, response.content
        return elapsed

    for _ in range(WARMUP):
        once(0)
        once(3)
    timings: dict[int, list[float]] = {0: [], 3: []}
    for run in range(RUNS):
        # Alternate which side goes first, so neither always follows the other.
        for channels in (0, 3) if run % 2 == 0 else (3, 0):
            timings[channels].append(once(channels))
    no_channels, three = summary(timings[0]), summary(timings[3])
    ratio = three["median_ms"] / no_channels["median_ms"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS_DIR
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip(),
        "load_average": os.getloadavg(),
        "runs": RUNS,
        "no_channels": no_channels,
        "three_channels_one_dead": three,
        "ratio": ratio,
        "target": {
            "target": "change owner with 3 channels (one dead) / with none, median latency",
            "value": ratio,
            "limit": f"<= {GOAL_RATIO:g}",
            "pass": ratio <= GOAL_RATIO,
        },
    }


def lines(result: dict) -> list[str]:
    out = [
        f"{result['date']}, commit {result['commit']},"
        f" load average {result['load_average'][0]:.1f}",
        f"Change owner with watch channels (ms, median / p95 over {result['runs']} runs)",
    ]
    for name in ("no_channels", "three_channels_one_dead"):
        row = result[name]
        out.append(f"{name.replace('_', ' '):<26} {row['median_ms']:>8.2f} / {row['p95_ms']:>7.2f}")
    out.append(f"{'ratio (3 channels / 0)':<26} {result['ratio']:>8.2f}")
    row = result["target"]
    out.append(f"{'PASS' if row['pass'] else 'MISS'}  {row['target']} ({row['limit']})")
    return out


def publish(result: dict) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "watch.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines(result)))
    from . import publish_docs

    for path in publish_docs.publish():
        print(f"Rewrote the generated blocks of {path.relative_to(publish_docs.ROOT)}")


if __name__ == "__main__":
    from .environment import setup_django_alone

    setup_django_alone()
    publish(measure())
