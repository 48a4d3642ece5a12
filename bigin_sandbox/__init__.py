"""A pytest plugin and a small client for the Bigin sandbox's controls (docs/sandbox.md).

Installing the project's package (`pip install path/to/bigin-owner`: this package alone, no
dependencies) registers the plugin through the `pytest11` entry point in pyproject.toml.
"""

from __future__ import annotations

from .client import Organization, Sandbox, SandboxError, User

__all__ = ["Organization", "Sandbox", "SandboxError", "User"]
