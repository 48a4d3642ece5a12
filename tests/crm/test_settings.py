"""Settings are read once at startup, so each case starts a fresh interpreter with a clean
environment (no DATABASE_URL, REDIS_URL or secret from the developer's shell or .env)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "DATABASE": [s.DATABASES["default"]["ENGINE"], str(s.DATABASES["default"]["NAME"])],
    "REDIS_URL": s.REDIS_URL,
    "CELERY_BROKER_URL": s.CELERY_BROKER_URL,
    "CELERY_TASK_ALWAYS_EAGER": s.CELERY_TASK_ALWAYS_EAGER,
    "RELATED_OWNER_DELAY_SECONDS": s.RELATED_OWNER_DELAY_SECONDS,
    "EMAIL_BACKEND": s.EMAIL_BACKEND,
    "API_DOMAIN": s.API_DOMAIN,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "CACHE": s.CACHES["default"]["BACKEND"],
}))
"""


@pytest.fixture
def start(tmp_path):
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")

    def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV_FILE": str(empty_env_file),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=PROJECT,
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def settings_under(start, **env: str) -> dict:
    result = start(PRINT_SETTINGS, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


MISSING_SECRET = (
    "DJANGO_SECRET_KEY is not set: for development run `make run` once (it writes a .env with "
    "one), in production set DJANGO_SECRET_KEY in the environment."
)


def test_a_missing_secret_key_with_debug_off_is_a_startup_error_that_says_so(start):
    result = start("import django; django.setup()")

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"django.core.exceptions.ImproperlyConfigured: {MISSING_SECRET}"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["issue_token", "--user", "ann.lee@zylker.test", "--scope", "ZohoBigin.users.READ"],
        ["seed_demo"],
        ["migrate", "--no-input"],
    ],
)
def test_manage_py_without_a_secret_says_how_to_get_one_in_one_line(tmp_path, command):
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_ENV_FILE": str(empty_env_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"manage.py: {MISSING_SECRET}\n"


def test_manage_py_reads_the_env_file_make_run_writes(tmp_path):
    env_file = tmp_path / ".env"
    subprocess.run(
        [sys.executable, "config/dev_env.py", "--api-domain", "http://127.0.0.1:8101"],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_ENV_FILE": str(env_file)},
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_SETTINGS],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["DEBUG"] is True
    assert found["SECRET_KEY"] not in ("", "insecure-development-only-key")
    assert found["API_DOMAIN"] == "http://127.0.0.1:8101"


def test_an_empty_secret_key_counts_as_missing(start):
    result = start("import django; django.setup()", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_is_off_by_default_and_the_defaults_match_the_configuration_table(start):
    assert settings_under(start, DJANGO_SECRET_KEY="s3cret") == {
        "DEBUG": False,
        "SECRET_KEY": "s3cret",
        "DATABASE": ["django.db.backends.sqlite3", str(PROJECT / "db.sqlite3")],
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": True,
        "RELATED_OWNER_DELAY_SECONDS": 5,
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "API_DOMAIN": "http://127.0.0.1:8000",
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
        "SECURE_SSL_REDIRECT": False,
        "CACHE": "django.core.cache.backends.locmem.LocMemCache",
    }


def test_debug_on_runs_without_a_secret_key_on_a_development_only_one(start):
    found = settings_under(start, DJANGO_DEBUG="true")
    assert found["DEBUG"] is True
    assert found["SECRET_KEY"] == "insecure-development-only-key"


def test_redis_url_configures_the_broker_and_the_cache_and_turns_off_eager_tasks(start):
    found = settings_under(start, DJANGO_SECRET_KEY="s3cret", REDIS_URL="redis://127.0.0.1:6379/3")
    assert found["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert found["CELERY_TASK_ALWAYS_EAGER"] is False
    assert found["CACHE"] == "django.core.cache.backends.redis.RedisCache"


def test_every_variable_of_the_table_is_read(start):
    found = settings_under(
        start,
        DJANGO_SECRET_KEY="s3cret",
        DJANGO_DEBUG="false",
        DATABASE_URL="postgres://u@db.internal:5432/bigin",
        REDIS_URL="redis://cache.internal:6379/0",
        CELERY_BROKER_URL="redis://broker.internal:6379/1",
        RELATED_OWNER_DELAY_SECONDS="0",
        EMAIL_URL="filemail:///tmp/mail",
        API_DOMAIN="https://crm.example.test",
        DJANGO_ALLOWED_HOSTS="crm.example.test,10.0.0.5",
        DJANGO_SECURE_SSL_REDIRECT="true",
    )
    assert found["DATABASE"] == ["django.db.backends.postgresql", "bigin"]
    assert found["REDIS_URL"] == "redis://cache.internal:6379/0"
    assert found["CELERY_BROKER_URL"] == "redis://broker.internal:6379/1"
    assert found["RELATED_OWNER_DELAY_SECONDS"] == 0
    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert found["API_DOMAIN"] == "https://crm.example.test"
    assert found["ALLOWED_HOSTS"] == ["crm.example.test", "10.0.0.5"]
    assert found["SECURE_SSL_REDIRECT"] is True


def test_every_variable_settings_reads_is_documented_in_the_configuration_page_and_env_example():
    source = (PROJECT / "config" / "settings.py").read_text()
    read = set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "REDIS_URL"} <= read
    page = (PROJECT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", page, re.M))
    example = set(re.findall(r"^# ([A-Z0-9_]+)=", (PROJECT / ".env.example").read_text(), re.M))
    assert read - documented == set()
    assert read - example == set()


# The PostgreSQL connection's options: DATABASE_POOLER (docs/deployment.md: behind pgbouncer in
# transaction mode nothing of a connection may outlive a transaction) and the connect timeout.
PRINT_DATABASE = """
import json, django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "pooler": settings.DATABASE_POOLER,
    "server_side_cursors_disabled": db.get("DISABLE_SERVER_SIDE_CURSORS", False),
    "prepare_threshold": db["OPTIONS"].get("prepare_threshold", "unset"),
    "connect_timeout": db["OPTIONS"]["connect_timeout"],
}))
"""
POSTGRES_BEHIND_A_POOLER = {
    "DJANGO_SECRET_KEY": "s3cret",
    "DATABASE_URL": "postgres://u@db.internal:6432/bigin",
}


def test_behind_a_transaction_pooler_no_prepared_statements_or_server_side_cursors(start):
    result = start(PRINT_DATABASE, **POSTGRES_BEHIND_A_POOLER, DATABASE_POOLER="transaction")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pooler": "transaction",
        "server_side_cursors_disabled": True,
        "prepare_threshold": None,
        "connect_timeout": 5,
    }


def test_without_a_pooler_statements_are_prepared_after_five_runs(start):
    result = start(PRINT_DATABASE, **POSTGRES_BEHIND_A_POOLER)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pooler": "",
        "server_side_cursors_disabled": False,
        "prepare_threshold": 5,
        "connect_timeout": 5,
    }


def test_a_connect_timeout_in_the_database_url_wins(start):
    result = start(
        PRINT_DATABASE,
        DJANGO_SECRET_KEY="s3cret",
        DATABASE_URL="postgres://u@db.internal:5432/bigin?connect_timeout=12",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["connect_timeout"] == 12


def test_an_unknown_pooler_is_a_startup_error_that_says_what_to_set(start):
    result = start(PRINT_DATABASE, **POSTGRES_BEHIND_A_POOLER, DATABASE_POOLER="session")

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: DATABASE_POOLER is 'session': leave it "
        "empty (a direct connection or a session pooler) or set it to 'transaction' (pgbouncer "
        "in transaction mode)."
    )
