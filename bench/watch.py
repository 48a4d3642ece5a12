"""Watch channels and the change-owner call: the single-record change owner through the API
(the DRF stack in process, `POST /bigin/v2/Contacts/{id}/actions/change_owner`) in three
organizations, interleaved run by run in the same process (the order rotates each run):

- one that watches nothing;
- one with 3 channels watching `Contacts.edit`, all at a live receiver (a local HTTP server the
  bench starts, answering 200);
- one with 3 channels watching `Contacts.edit`, one of them at a dead address (nothing listens).

The callbacks are the workers' (docs/notifications.md): what a channel costs the call is the
watch event its audit statement writes (no query more) and one task message, handed after commit
to the process's publisher thread (owners/publisher.py), which publishes it while the response
is on its way. Nothing is published by the request thread, so the figure timed is the response's.
After each call, outside the timed part, the bench waits for the publisher to drain
(`publisher.flush`, the product's own shutdown wait), so that every call starts with an idle
process whichever side went before; that wait is reported too ("published"): response plus
the publish, the time until the message is on the broker.

Targets (ours), on the median response time:
- 3 channels (one dead) / none <= GOAL_RATIO (1.1): a channel costs the call little;
- 3 channels (one dead) / 3 live <= DEAD_GOAL_RATIO (1.05): the dead receiver costs the call
  nothing. The two organizations do the same work in the request (the same rows, the same one
  message), so the ratio is 1 up to noise; 5% is what this bench's noise allows on a shared
  2-core machine at 200 runs.

`make bench` runs it last; alone: `python -m bench.watch` (BENCH_WATCH_RUNS, default 200; the
bench's messages go to the `bench` queue, which no worker consumes). Writes
bench/results/watch.json and, through bench/publish_docs.py, the generated block of
docs/notifications.md. No Django at module level (publish_docs imports `lines`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from time import perf_counter

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RUNS = int(os.environ.get("BENCH_WATCH_RUNS", "200"))
WARMUP = 10
SCOPES = ["ZohoBigin.change_owner.ALL"]
# Ours: what three channels (one of them dead) may add to the call's median latency. They add
# the event rows the audit statement writes and one task message handed to the publisher thread
# after commit, nothing that waits on a receiver or on the broker.
GOAL_RATIO = 1.1
# Ours: three channels with a dead one against three live ones, which do the same work.
DEAD_GOAL_RATIO = 1.05
# The sides: (key in the result, label, channels, dead)
SIDES = [
    ("no_channels", "no channels", 0, False),
    ("three_live", "3 channels, all live", 3, False),
    ("three_one_dead", "3 channels, one dead", 3, True),
]


class _Receiver(BaseHTTPRequestHandler):
    """A live callback receiver: reads the body, answers 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _live_receiver() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, name="bench-receiver", daemon=True).start()
    return server


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"


def _organization(name: str, channels: int, urls: list[str]):
    from django.utils import timezone

    from crm.models import Organization, Profile, Record, User
    from crm.modules import module_by_name
    from crm.oauth.grants import issue_access_token
    from owners.models import WatchChannel

    organization, _ = Organization.objects.get_or_create(name=name)
    profile = Profile.objects.get(organization=organization, name="Administrator")
    users = [
        User.objects.get_or_create(
            email=f"watch-{organization.id}-{n}@bench-watch.test",
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
    for number, url in enumerate(urls[:channels], start=1):
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

    from owners import publisher

    from .load import summary

    receiver = _live_receiver()
    live = f"http://127.0.0.1:{receiver.server_address[1]}"
    # The dead side's other two channels are at the live receiver, so the dead address is all
    # that tells the two 3-channel organizations apart.
    urls = {
        False: [f"{live}/a", f"{live}/b", f"{live}/c"],
        True: [_dead_url(), f"{live}/b", f"{live}/c"],
    }
    names = {
        "no_channels": "Watch bench (0 channels)",
        "three_live": "Watch bench (3 live channels)",
        "three_one_dead": "Watch bench (3 channels)",
    }
    sides = {}
    for key, _, channels, dead in SIDES:
        record, users, token = _organization(names[key], channels, urls[dead])
        client = APIClient(SERVER_NAME="127.0.0.1")  # one of ALLOWED_HOSTS
        client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
        sides[key] = {"record": record, "users": users, "client": client, "turn": 0}

    def once(key: str) -> tuple[float, float]:
        side = sides[key]
        side["turn"] += 1
        owner = side["users"][side["turn"] % 2]
        start = perf_counter()
        response = side["client"].post(
            f"/bigin/v2/Contacts/{side['record'].id}/actions/change_owner",
            {"owner": {"id": str(owner.id)}},
            format="json",
        )
        answered = perf_counter()
        assert response.status_code == 200, response.content
        assert publisher.flush(), "the publisher did not drain"
        published = perf_counter()
        return (answered - start) * 1000, (published - start) * 1000

    keys = [key for key, *_ in SIDES]
    for _ in range(WARMUP):
        for key in keys:
            once(key)
    timings: dict[str, list[float]] = {key: [] for key in keys}
    until_published: dict[str, list[float]] = {key: [] for key in keys}
    for run in range(RUNS):
        # Rotate which side goes first, so none always follows another.
        shift = run % len(keys)
        for key in keys[shift:] + keys[:shift]:
            answered, published = once(key)
            timings[key].append(answered)
            until_published[key].append(published)
    receiver.shutdown()
    result_sides = {
        key: {**summary(timings[key]), "published": summary(until_published[key])} for key in keys
    }
    median = {key: row["median_ms"] for key, row in result_sides.items()}
    ratio = median["three_one_dead"] / median["no_channels"]
    dead_ratio = median["three_one_dead"] / median["three_live"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS_DIR
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip(),
        "load_average": os.getloadavg(),
        "runs": RUNS,
        "sides": result_sides,
        "ratio": ratio,
        "dead_ratio": dead_ratio,
        "targets": [
            {
                "target": "3 channels (one dead) / none, median response",
                "value": ratio,
                "limit": f"<= {GOAL_RATIO:g}",
                "pass": ratio <= GOAL_RATIO,
            },
            {
                "target": "3 channels (one dead) / 3 live, median response",
                "value": dead_ratio,
                "limit": f"<= {DEAD_GOAL_RATIO:g}",
                "pass": dead_ratio <= DEAD_GOAL_RATIO,
            },
        ],
    }


def lines(result: dict) -> list[str]:
    out = [
        f"{result['date']}, commit {result['commit']},"
        f" load average {result['load_average'][0]:.1f}",
        f"Change owner with watch channels (ms over {result['runs']} runs)",
        f"{'':<24} {'response median / p95':>22}   {'published median':>16}",
    ]
    for key, label, *_ in SIDES:
        row = result["sides"][key]
        out.append(
            f"{label:<24} {row['median_ms']:>11.2f} / {row['p95_ms']:>7.2f}"
            f"   {row['published']['median_ms']:>16.2f}"
        )
    out.append(f"{'ratio one dead / none':<24} {result['ratio']:>11.2f}")
    out.append(f"{'ratio one dead / live':<24} {result['dead_ratio']:>11.2f}")
    for row in result["targets"]:
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
