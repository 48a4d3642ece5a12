"""The bench's process environment and database, shared by `bench.run` and the parts that also
run alone (`python -m bench.metering`, `bench.offboarding`, `bench.buffers`)."""

from __future__ import annotations

import os
import secrets
import sys

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bigin_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


def configure_environment() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DJANGO_DEBUG"] = "false"
    # A throwaway key for this run only: the product requires one when DEBUG is off.
    os.environ["DJANGO_SECRET_KEY"] = "bench-only-" + secrets.token_hex(24)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The bench's Celery messages go to a queue of their own, and a related transfer is due at
    # once (part 4 waits for a real worker to run one).
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = "bench"
    os.environ["RELATED_OWNER_DELAY_SECONDS"] = "0"


def ensure_database(url: str) -> None:
    """Create the database named in `url` when it does not exist (PostgreSQL only)."""
    import psycopg
    from psycopg import sql

    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"bench: DATABASE_URL must be PostgreSQL, not {url.split(':', 1)[0]}")
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"bench: created database {name}")


def setup_django_alone() -> None:
    """What a part run alone (`python -m bench.<part>`) needs first: the environment, the database,
    Django, and the schema migrated."""
    from pathlib import Path

    configure_environment()
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
