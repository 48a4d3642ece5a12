"""The development .env that `make run` writes (config/dev_env.py)."""

from __future__ import annotations

import subprocess
import sys

from config.dev_env import BASE_DIR, ensure_dev_env


def values(path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_first_run_writes_debug_a_new_secret_key_and_the_address(tmp_path):
    env_file = tmp_path / ".env"

    written = ensure_dev_env(env_file, api_domain="http://127.0.0.1:8000")

    assert written == [
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "API_DOMAIN",
        "SANDBOX_API",
        "SANDBOX_API_KEY",
    ]
    found = values(env_file)
    assert found.keys() == set(written)
    assert found["DJANGO_DEBUG"] == "true"
    assert found["API_DOMAIN"] == "http://127.0.0.1:8000"
    assert len(found["DJANGO_SECRET_KEY"]) >= 50
    assert found["SANDBOX_API"] == "true"
    assert len(found["SANDBOX_API_KEY"]) >= 32
    assert env_file.read_text().startswith("# Written by `make run`")
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_each_env_file_gets_its_own_secret_key(tmp_path):
    ensure_dev_env(tmp_path / "a.env", api_domain="http://127.0.0.1:8000")
    ensure_dev_env(tmp_path / "b.env", api_domain="http://127.0.0.1:8000")

    assert (
        values(tmp_path / "a.env")["DJANGO_SECRET_KEY"]
        != (values(tmp_path / "b.env")["DJANGO_SECRET_KEY"])
    )


def test_a_later_run_keeps_the_file_and_only_follows_host_and_port(tmp_path):
    env_file = tmp_path / ".env"
    ensure_dev_env(env_file, api_domain="http://127.0.0.1:8000")
    before = env_file.read_text()

    assert ensure_dev_env(env_file, api_domain="http://127.0.0.1:8000") == []
    assert env_file.read_text() == before

    assert ensure_dev_env(env_file, api_domain="http://0.0.0.0:8101") == ["API_DOMAIN"]
    assert env_file.read_text() == before.replace(
        "API_DOMAIN=http://127.0.0.1:8000", "API_DOMAIN=http://0.0.0.0:8101"
    )


def test_an_existing_env_file_keeps_its_lines_and_gains_what_is_missing(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# mine\nDATABASE_URL=postgres://postgres@127.0.0.1:5432/bigin\nDJANGO_DEBUG=false\n"
    )

    written = ensure_dev_env(env_file, api_domain="http://127.0.0.1:8000")

    assert written == ["DJANGO_SECRET_KEY", "API_DOMAIN", "SANDBOX_API", "SANDBOX_API_KEY"]
    lines = env_file.read_text().splitlines()
    assert lines[:3] == [
        "# mine",
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/bigin",
        "DJANGO_DEBUG=false",
    ]
    assert lines[3].startswith("DJANGO_SECRET_KEY=")
    assert lines[4:6] == ["API_DOMAIN=http://127.0.0.1:8000", "SANDBOX_API=true"]
    assert lines[6].startswith("SANDBOX_API_KEY=")


def test_the_script_writes_the_file_settings_read(tmp_path):
    env_file = tmp_path / "dev.env"

    result = subprocess.run(
        [
            sys.executable,
            str(BASE_DIR / "config" / "dev_env.py"),
            "--api-domain",
            "http://127.0.0.1:8101",
        ],
        env={"PATH": "/usr/bin:/bin", "DJANGO_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout == (
        f"Wrote {env_file}: DJANGO_DEBUG, a new DJANGO_SECRET_KEY, API_DOMAIN=http://127.0.0.1:8101,"
        " SANDBOX_API, a new SANDBOX_API_KEY\n"
    )
    assert values(env_file)["API_DOMAIN"] == "http://127.0.0.1:8101"
