"""HTTP side of the bench: a gunicorn server, wrk as the load generator, /proc for memory."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
WRK_SCRIPT = BENCH_DIR / "wrk" / "change_owner.lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a process, in KiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values


@contextmanager
def gunicorn(*, workers: int, worker_class: str, threads: int, env: dict[str, str]):
    """Serve the product (with the bench-only routes) on a loopback port; yield (port, pid)."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--worker-class={worker_class}",
        f"--threads={threads}",
        "--backlog=4096",
        "--log-level=warning",
    ]
    # WhiteNoise warns once per worker that `collectstatic` has not run: not the bench's concern.
    env = {**env, "PYTHONWARNINGS": "ignore:No directory at"}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = request(port, "GET", "/healthz", None, {})
                if status == 200 and len(children(process.pid)) == workers:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(port: int, method: str, path: str, body: object, headers: dict[str, str]):
    """One request on a fresh connection (sync gunicorn workers close it after each response)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def timed_requests(port, path, bodies, headers) -> list[float]:
    """Latency in ms of each body POSTed in turn, one at a time; every answer must be 200."""
    timings = []
    for body in bodies:
        start = time.perf_counter()
        status, content = request(port, "POST", path, body, headers)
        timings.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {content[:300]!r}")
    return timings


def wrk_available() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        raise RuntimeError("wrk is missing: `make bench` installs it with apt-get")
    return wrk


def run_wrk(
    *,
    port: int,
    path_template: str,
    mode: str,
    connections: int,
    seconds: int,
    data_file: Path,
) -> dict:
    """Drive `connections` concurrent connections for `seconds`; return wrk's figures."""
    threads = min(connections, 2)
    command = [
        wrk_available(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=30s",
        f"--script={WRK_SCRIPT}",
        f"http://127.0.0.1:{port}",
        "--",
        path_template,
        mode,
    ]
    env = {**os.environ, "BENCH_WRK_DATA": str(data_file)}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if completed.stderr.strip() or not lines:
        raise RuntimeError(f"wrk failed: {completed.stderr.strip() or completed.stdout}")
    line = lines[0]
    figures = json.loads(line.removeprefix("BENCH_RESULT "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["p50_ms"] = figures["p50_us"] / 1000
    figures["p99_ms"] = figures["p99_us"] / 1000
    figures["errors"] = sum(
        figures[key]
        for key in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return figures


def write_wrk_data(
    path: Path,
    *,
    token: str,
    ids: list[int],
    owners: list[int],
    bulk: list[int],
    bulk_options: dict,
):
    def lua_strings(values):
        return "{" + ",".join(f'"{value}"' for value in values) + "}"

    # The body of a bulk request up to the owner, which the script appends.
    bulk_json = json.dumps({"ids": [str(value) for value in bulk], **bulk_options})[:-1]
    path.write_text(
        "return {\n"
        f'  token = "{token}",\n'
        f"  ids = {lua_strings(ids)},\n"
        f"  owners = {lua_strings(owners)},\n"
        f"  bulk_body_head = [=[{bulk_json}]=],\n"
        "}\n"
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(values),
        "p95_ms": percentile(values, 0.95),
        "min_ms": min(values),
        "runs": len(values),
    }


def combine_runs(runs: list[dict]) -> dict:
    """Several wrk runs of one endpoint as one: requests over total time; the median of each
    run's latency percentiles; every error counted."""
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["duration_us"] for run in runs) / 1e6
    return {
        "rps": requests / seconds,
        "requests": requests,
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "runs": runs,
    }
