"""Reads at scale again on a private PostgreSQL whose shared_buffers holds the data.

    .venv/bin/python -m bench.buffers [SHARED_BUFFERS]     (default 3GB; needs PostgreSQL's
                                                            server binaries and root or postgres)

`make bench` runs against the server it is given, usually with the default shared_buffers of
128MB, far below the large organization's 2 GB of table and indexes: deep reads then come from the
operating system's cache, not PostgreSQL's. This initdb's a throwaway cluster in a temporary
directory, starts it on a free loopback port with the given shared_buffers (everything else
default), migrates, loads the large organization (bench/bigdata.py), runs bench/scale.py's cases
twice (the second run finds the pages in shared_buffers), prints both beside the settings, writes
bench/results/buffers.json, and removes the cluster. The machine's own server is not touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .environment import configure_environment
from .load import free_port
from .report import RESULTS_DIR

PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root: run the cluster as the postgres user when we are root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def main() -> None:
    shared_buffers = sys.argv[1] if len(sys.argv) > 1 else "3GB"
    data_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    port = free_port()
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data_dir)]
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c shared_buffers={shared_buffers}"
    options += f" -c unix_socket_directories={data_dir}"
    subprocess.run(
        _as_postgres([*pg_ctl, "-o", options, "-l", str(data_dir / "log"), "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{port}/postgres"
        configure_environment()
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        import django

        django.setup()
        from django.core.management import call_command

        from . import bigdata, scale

        call_command("migrate", verbosity=0)
        deep = bigdata.build()
        runs = [scale.measure(deep), scale.measure(deep)]
        result = {"shared_buffers": shared_buffers, "runs": runs}
        out = RESULTS_DIR / "buffers.json"
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        for n, run in enumerate(runs, 1):
            print(f"run {n}: " + ", ".join(f"{k}={v}" for k, v in run["settings"].items()))
            for case in run["cases"]:
                print(
                    f"   {case['name']:<40} HTTP {case['http']['median_ms']:8.2f}  floor "
                    f"{case['floor_sql']['median_ms']:8.2f}  {case['explain']['buffers']}"
                )
        print(f"wrote {out}")
    finally:
        subprocess.run(_as_postgres([*pg_ctl, "-m", "fast", "stop"]), stdout=subprocess.DEVNULL)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
