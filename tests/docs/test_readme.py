"""The README and the pages of docs/ run as written.

Their shell blocks carry a marker (tests/docs/markdown.py). This test does what a newcomer does:
a fresh copy of the repository (the files a clone has, this checkout's virtualenv linked in),
`make run` on a free port with a clean environment (so SQLite, in-process tasks, and the `.env`
that `make run` writes), then every `run` and `server` block in order, with bash, in that copy,
as if typed into one shell: variables a block sets are there for the next one. The README comes
first, then each page of docs/ in name order, each in a fresh shell of its own (a reader opens one
page) against the same server and its demo data. A block fails the
test when it exits non-zero (`set -euo pipefail`), writes to stderr, or prints something other
than the `output` block that follows it. The README's `http://127.0.0.1:8000` becomes the free
port's address, in the blocks and in the expected output alike.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from .markdown import MARKER_KINDS, PROJECT, README, Block, fenced_blocks, markdown_files

README_ADDRESS = "http://127.0.0.1:8000"
# What a newcomer's shell does not have: the test run's own database, broker and secret.
NOT_IN_A_NEWCOMERS_SHELL = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ENV_FILE",
    "API_DOMAIN",
    "DEMO_ADMIN_PASSWORD",
    "DJANGO_SETTINGS_MODULE",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)
SERVER_START_TIMEOUT = 300  # seconds; a wait for readiness, not a measurement


def all_blocks() -> list[Block]:
    return [block for path in markdown_files() for block in fenced_blocks(path)]


def test_every_shell_block_carries_a_marker():
    unmarked = [block.name for block in all_blocks() if block.is_shell and block.marker is None]
    assert unmarked == []


def test_markers_are_known_and_skips_give_a_reason():
    wrong = []
    for block in all_blocks():
        if block.marker is None:
            continue
        if block.marker not in MARKER_KINDS:
            wrong.append((block.name, f"unknown marker {block.marker!r}"))
        elif block.marker in ("skip", "file") and not block.argument:
            wrong.append((block.name, f"{block.marker} needs a reason or a file name"))
        elif block.marker in ("run", "server") and not block.is_shell:
            wrong.append((block.name, "only shell blocks run"))
    assert wrong == []


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.name)
def test_output_blocks_follow_a_block_that_runs(path):
    blocks = fenced_blocks(path)
    misplaced = [
        block.name
        for previous, block in zip([None, *blocks], blocks, strict=False)
        if block.marker == "output" and (previous is None or not previous.runs)
    ]
    assert misplaced == []


# --- running them --------------------------------------------------------------------------------


@dataclass
class Step:
    block: Block
    expected: str | None  # the output block after it
    files: list[Block]  # `file` blocks since the previous step: saved before it runs


def steps_of(path: Path) -> list[Step]:
    steps: list[Step] = []
    files: list[Block] = []
    for block in fenced_blocks(path):
        if block.marker == "file":
            files.append(block)
        elif block.runs:
            steps.append(Step(block=block, expected=None, files=files))
            files = []
        elif block.marker == "output":
            steps[-1].expected = block.text
    return steps


def expected_pattern(expected: str, address: str) -> re.Pattern[str]:
    """The output block as a pattern: a line `...` stands for any lines, `...` within a line for
    any text on that line; the rest is literal (trailing spaces aside)."""
    lines = []
    for line in expected.strip("\n").replace(README_ADDRESS, address).splitlines():
        line = line.rstrip()
        if line == "...":
            lines.append(".*?")
        else:
            lines.append("[^\n]*?".join(re.escape(part) for part in line.split("...")))
    return re.compile("\n".join(lines), re.DOTALL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Never in a clone: what `make run`, the tests and the virtualenv leave in a checkout.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".env",
    "db.sqlite3",
    "staticfiles",
    "__pycache__",
    "*.pyc",
    ".*_cache",
    "test-artifacts",
    "client.txt",
    "example-sandbox.json",
)


def fresh_copy(target: Path) -> None:
    """The files a clone has (tracked, plus new files not ignored), as they are on disk; mtimes
    kept, so make sees the linked virtualenv as installed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:  # not a git checkout (an unpacked archive, say)
        shutil.copytree(PROJECT, target, ignore=NOT_IN_A_CLONE, dirs_exist_ok=True)
    else:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = PROJECT / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    # This checkout's virtualenv stands in for the one `make run` would build.
    (target / ".venv").symlink_to(Path(sys.prefix))


def newcomers_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_NEWCOMERS_SHELL}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@dataclass
class Server:
    root: Path
    address: str
    log: Path


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`make run` in a fresh copy, on a free port, until the module's tests are done."""
    root = tmp_path_factory.mktemp("clone")
    fresh_copy(root)
    port = free_port()
    log = root.parent / "make-run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "run", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=root,
            env=newcomers_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make, runserver and its reloader child: one group to stop
        )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"make run exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{address}/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"make run did not answer /healthz:\n{log.read_text()}")
            time.sleep(0.5)
        yield Server(root=root, address=address, log=log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_make_run_writes_a_development_env(make_run):
    env_file = make_run.root / ".env"
    values = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line and not line.startswith("#")
    )

    assert values.keys() == {
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "API_DOMAIN",
        "SANDBOX_API",
        "SANDBOX_API_KEY",
    }
    assert values["SANDBOX_API"] == "true"
    assert values["DJANGO_DEBUG"] == "true"
    assert len(values["DJANGO_SECRET_KEY"]) >= 50
    assert values["API_DOMAIN"] == make_run.address
    assert env_file.stat().st_mode & 0o077 == 0  # it holds a secret: the owner's only


def run_step(step: Step, *, root: Path, address: str, env: dict[str, str]) -> dict[str, str]:
    """Run one block as bash in `root`, with `env`; returns the environment it leaves behind
    (every variable it set is exported with `set -a`, then dumped at exit)."""
    for file_block in step.files:
        (root / file_block.argument).write_text(file_block.text)
    state = root.parent / "block-env"
    script = "\n".join(
        [
            "set -euo pipefail -a",
            f"trap 'env -0 > {state}' EXIT",
            step.block.text.replace(README_ADDRESS, address),
        ]
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    where = f"{step.block.name}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    assert result.returncode == 0, f"exit {result.returncode}: {where}"
    assert result.stderr == "", f"wrote to stderr: {where}"
    if step.expected is not None:
        pattern = expected_pattern(step.expected, address)
        output = "\n".join(line.rstrip() for line in result.stdout.strip("\n").splitlines())
        assert pattern.fullmatch(output), f"unexpected output, expected:\n{step.expected}{where}"
    after = dict(item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
    for name in ("_", "SHLVL", "PWD", "OLDPWD"):
        after.pop(name, None)
    return after


STEPS = [step for path in markdown_files() for step in steps_of(path)]


def test_the_readme_and_the_docs_have_blocks_that_run():
    assert len(steps_of(README)) >= 4
    pages = {step.block.path.name for step in STEPS if step.block.path != README}
    assert {"oauth.md", "transfer-jobs.md"} <= pages


@pytest.fixture(scope="module")
def shells(make_run):
    """A reader's shell per page: its environment carries over from one block to the next of
    the same page. A failed block fails the rest of its page."""
    return {}


@pytest.mark.parametrize("step", STEPS, ids=[step.block.name for step in STEPS])
def test_block_runs_as_written(step, make_run, shells):
    shell = shells.setdefault(step.block.path, {"env": newcomers_environment(), "failed": None})
    if shell["failed"]:
        pytest.fail(f"an earlier block failed: {shell['failed']}")
    shell["failed"] = step.block.name
    shell["env"] = run_step(step, root=make_run.root, address=make_run.address, env=shell["env"])
    shell["failed"] = None
