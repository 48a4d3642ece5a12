"""`make sandbox`: a Bigin sandbox for a client's test suite or CI, in seconds (docs/sandbox.md).

    python config/sandbox.py --host 127.0.0.1 --port 8000

A fresh SQLite database in a temporary directory (migrated here), no broker (the serving process
runs related transfers and emails at their due time: owners/scheduler.py), the sandbox controls
on with a key (SANDBOX_API_KEY from the environment, else a generated one), debug off with a
generated secret key. It prints what a test run needs, as shell lines a CI script can `eval`,
then serves with gunicorn in the foreground (one process, threads: the in-process jobs and the
SQLite database belong to one process; gunicorn hands the application the client's socket, so
dropped-connection faults work). The project's `.env` (make run's) is not read.

Run as a script, like config/dev_env.py: it must set the environment before Django reads it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
THREADS = 8


def sandbox_environment(
    *, host: str, port: int, workdir: Path, key: str, base: dict[str, str]
) -> dict[str, str]:
    env_file = workdir / "empty.env"
    env_file.write_text("")
    allowed_hosts = ",".join(dict.fromkeys(["127.0.0.1", "localhost", host]))
    return {
        **base,
        "DJANGO_ENV_FILE": str(env_file),
        "DATABASE_URL": f"sqlite:///{workdir / 'sandbox.sqlite3'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "SANDBOX_API": "true",
        "SANDBOX_API_KEY": key,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": allowed_hosts,
        "API_DOMAIN": f"http://{host}:{port}",
        "LOG_LEVEL": base.get("LOG_LEVEL", "WARNING"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    key = os.environ.get("SANDBOX_API_KEY") or secrets.token_urlsafe(32)
    workdir = Path(tempfile.mkdtemp(prefix="bigin-sandbox-"))
    env = sandbox_environment(
        host=args.host, port=args.port, workdir=workdir, key=key, base=dict(os.environ)
    )
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--no-input"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    url = env["API_DOMAIN"]
    print(f"# Bigin sandbox: {url} (SQLite in {workdir}, jobs in-process, controls on)")
    print(f"export BIGIN_SANDBOX_URL={shlex.quote(url)}")
    print(f"export BIGIN_SANDBOX_KEY={shlex.quote(key)}", flush=True)
    command = [
        python,
        "-m",
        "gunicorn",
        "-c",
        "config/gunicorn.py",
        "config.wsgi",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        "1",
        "--threads",
        str(THREADS),
    ]
    os.chdir(BASE_DIR)
    os.execve(python, command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
