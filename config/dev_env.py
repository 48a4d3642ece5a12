"""The development `.env` that `make run` writes before it starts the server.

    python config/dev_env.py --api-domain http://127.0.0.1:8000

The first run writes DJANGO_DEBUG=true, a generated DJANGO_SECRET_KEY, API_DOMAIN (the address
`make run` serves on), and SANDBOX_API=true with a generated SANDBOX_API_KEY (the sandbox
controls, docs/sandbox.md; `make run` prints the key). Later runs keep every line, the keys
included, add any of these that is missing, and set API_DOMAIN to the address of this run, so
the token endpoint's `api_domain` follows HOST and PORT. config/settings.py reads the same file
on every start, so `manage.py` commands work outside `make run` too. Variables in the
environment still win over it.

Run as a script (not `-m config.dev_env`): it needs neither Django nor the Celery app that
`config/__init__.py` imports.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
HEADER = (
    "# Written by `make run` for local development; never use these values in production.\n"
    "# `make run` keeps API_DOMAIN equal to the address it serves on. Variables set in the\n"
    "# environment win over this file. .env.example lists every setting.\n"
)
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def env_file_path() -> Path:
    """The file config/settings.py reads: DJANGO_ENV_FILE, or .env in the project directory."""
    return Path(os.environ.get("DJANGO_ENV_FILE") or BASE_DIR / ".env")


def ensure_dev_env(path: Path, *, api_domain: str) -> list[str]:
    """Create or update the development env file; returns the names of the lines it wrote."""
    lines = path.read_text().splitlines() if path.exists() else []
    defined = {
        match.group(1): i for i, line in enumerate(lines) if (match := _ASSIGNMENT.match(line))
    }
    wanted = {
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "API_DOMAIN": api_domain,
        # The sandbox controls (docs/sandbox.md), with a key of this checkout's own.
        "SANDBOX_API": "true",
        "SANDBOX_API_KEY": secrets.token_urlsafe(32),
    }
    written = []
    for name, value in wanted.items():
        line = f"{name}={value}"
        if name not in defined:
            lines.append(line)
            written.append(name)
        elif name == "API_DOMAIN" and lines[defined[name]] != line:
            lines[defined[name]] = line
            written.append(name)
    if written:
        text = "\n".join(lines) + "\n"
        if not path.exists():
            text = HEADER + text
        # The file holds a secret key: readable by its owner only.
        path.touch(mode=0o600)
        path.write_text(text)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-domain", required=True, help="e.g. http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    path = env_file_path()
    existed = path.exists()
    written = ensure_dev_env(path, api_domain=args.api_domain)
    if not existed:
        print(
            f"Wrote {path}: DJANGO_DEBUG, a new DJANGO_SECRET_KEY, API_DOMAIN={args.api_domain},"
            " SANDBOX_API, a new SANDBOX_API_KEY"
        )
    elif written:
        print(f"Updated {path}: " + ", ".join(written) + f" (API_DOMAIN={args.api_domain})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
