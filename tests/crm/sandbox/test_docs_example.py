"""docs/sandbox.md's worked example runs as written: its files are saved as the page says, and its
shell block runs with bash in a directory beside a checkout (`bigin-owner`, this project) against
a real `make sandbox`, so the pytest plugin is used exactly as the page shows it.

One step is done differently: `pip install ./bigin-owner` builds a wheel, which needs setuptools
and wheel from the package index (pip's build isolation), and a test must not need the network.
The `pip` of this test installs what that wheel holds instead: the package named in
pyproject.toml's `[tool.setuptools] packages` and a dist-info whose entry_points.txt is
pyproject.toml's `[project.entry-points]`, into a directory on PYTHONPATH. pytest then finds the
plugin through its `pytest11` entry point, as it does after a real install.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.docs.markdown import PROJECT, fenced_blocks
from tests.docs.test_readme import free_port, newcomers_environment

DOC = PROJECT / "docs" / "sandbox.md"
DOC_PORT = "PORT=8001"

PIP = """#!/bin/sh
# `pip install ./bigin-owner`, offline: what the wheel holds (see the test's docstring).
set -e
[ "$1" = install ] && [ "$2" = ./bigin-owner ] && [ $# -eq 2 ] || {
  echo "this test's pip only installs ./bigin-owner, as docs/sandbox.md says" >&2; exit 2; }
exec "{python}" "{installer}" "$2" "{site}"
"""

INSTALL = """
import shutil, sys, tomllib
from pathlib import Path

source, site = Path(sys.argv[1]), Path(sys.argv[2])
project = tomllib.loads((source / "pyproject.toml").read_text())
meta = project["project"]
for package in project["tool"]["setuptools"]["packages"]:
    shutil.copytree(source / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
info.mkdir()
(info / "METADATA").write_text(
    f"Metadata-Version: 2.1\\nName: {meta['name']}\\nVersion: {meta['version']}\\n"
)
(info / "entry_points.txt").write_text(
    "".join(
        f"[{group}]\\n" + "".join(f"{name} = {target}\\n" for name, target in points.items())
        for group, points in meta["entry-points"].items()
    )
)
print(f"Successfully installed {meta['name']}-{meta['version']}")
"""


def doc_blocks():
    blocks = fenced_blocks(DOC)
    files = [block for block in blocks if block.marker == "file"]
    [shell] = [block for block in blocks if block.is_shell and "make -C bigin-owner" in block.text]
    return files, shell


def test_the_page_has_the_example_this_test_runs():
    files, shell = doc_blocks()

    assert [block.argument for block in files] == ["owner_client.py", "test_owner_client.py"]
    assert shell.marker == "skip"
    assert DOC_PORT in shell.text
    assert "bigin_sandbox.pytest_plugin" in (PROJECT / "pyproject.toml").read_text()


def test_the_worked_example_passes_against_make_sandbox(tmp_path):
    files, shell = doc_blocks()
    work = tmp_path / "ci"
    work.mkdir()
    (work / "bigin-owner").symlink_to(PROJECT)
    for block in files:
        (work / block.argument).write_text(block.text)
    site, tools = tmp_path / "site", tmp_path / "bin"
    site.mkdir()
    tools.mkdir()
    (tmp_path / "install.py").write_text(INSTALL)
    pip = tools / "pip"
    pip.write_text(
        PIP.replace("{python}", sys.executable)
        .replace("{installer}", str(tmp_path / "install.py"))
        .replace("{site}", str(site))
    )
    pip.chmod(0o755)
    env = newcomers_environment()
    env.pop("CI", None)  # the example's own suite: a missing sandbox must fail it, not skip
    env.pop("SANDBOX_API_KEY", None)
    env["PATH"] = os.pathsep.join([str(tools), str(Path(sys.executable).parent), env["PATH"]])
    env["PYTHONPATH"] = str(site)
    script = shell.text.replace(DOC_PORT, f"PORT={free_port()}")

    process = subprocess.Popen(
        ["bash", "-c", f"set -euo pipefail\n{script}"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make sandbox runs in the background: one group to stop
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    log = (work / "sandbox.log").read_text() if (work / "sandbox.log").exists() else ""

    assert process.returncode == 0, f"{output}\n--- sandbox.log\n{log}"
    assert output.splitlines()[0] == "Successfully installed bigin-owner-0.1.0"
    assert output.rstrip().splitlines()[-1].startswith("4 passed"), output
    # The plugin came from the installed package, through its entry point.
    assert (site / "bigin_sandbox" / "pytest_plugin.py").exists()
    assert not (work / "bigin_sandbox").exists()


def test_the_pyproject_entry_point_names_the_plugin_module():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())

    assert project["project"]["entry-points"]["pytest11"] == {
        "bigin_sandbox": "bigin_sandbox.pytest_plugin"
    }
    assert project["tool"]["setuptools"]["packages"] == ["bigin_sandbox"]
    assert "dependencies" not in project["project"]


def test_without_a_sandbox_the_fixture_skips_with_the_reason_or_fails_under_ci(tmp_path):
    (tmp_path / "test_needs_it.py").write_text("def test_it(bigin_org):\n    pass\n")
    env = newcomers_environment()
    for name in ("BIGIN_SANDBOX_URL", "BIGIN_SANDBOX_KEY", "CI"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(PROJECT)
    command = [sys.executable, "-m", "pytest", "-p", "bigin_sandbox.pytest_plugin", "-rs", "-q"]

    locally = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    in_ci = subprocess.run(
        command, cwd=tmp_path, env={**env, "CI": "true"}, capture_output=True, text=True
    )

    reason = "no Bigin sandbox: run `make sandbox` and set BIGIN_SANDBOX_URL and BIGIN_SANDBOX_KEY"
    assert locally.returncode == 0, locally.stdout
    assert f"SKIPPED [1] test_needs_it.py:1: {reason}" in locally.stdout
    assert in_ci.returncode == 1, in_ci.stdout
    assert "CI=true: a missing sandbox is a failure, not a skip" in in_ci.stdout
