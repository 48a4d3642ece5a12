"""No link or path in the README or docs/ points outside the repository: relative links resolve
to files of the repository (and their #anchors to headings), repository paths named in backticks
exist, and nothing names the team's files outside it."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from .markdown import PROJECT, links, markdown_files

FILES = markdown_files()
# Where the team's specs live outside the repository; a reader of a clone has none of it.
OUTSIDE = re.compile(r"\.\./shared|/work/|\bshared/|\bapi-spec\.md\b|\bdesign\.md\b|\bstyle\.md\b")
_BACKTICKED = re.compile(r"`([^`\s]+)`")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_TOP_LEVEL = {p.name for p in PROJECT.iterdir() if p.name not in {".git", ".venv"}}


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(PROJECT)) for path in paths]


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    counts: dict[str, int] = {}
    in_fence = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def test_the_docs_exist_and_the_readme_links_their_index():
    assert (PROJECT / "docs" / "README.md").is_file()
    readme_targets = {target for _, target in links(PROJECT / "README.md")}
    assert "docs/README.md" in readme_targets


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_every_link_resolves_inside_the_repository(path):
    broken = []
    for line, target in links(path):
        parts = urlsplit(target)
        if parts.scheme in ("http", "https", "mailto"):
            continue  # an address, not a path (the local server's included)
        if parts.scheme or target.startswith("/"):
            broken.append((line, target, "not a relative path"))
            continue
        resolved = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not resolved.is_relative_to(PROJECT):
            broken.append((line, target, "outside the repository"))
        elif not resolved.exists():
            broken.append((line, target, "no such file"))
        elif (
            parts.fragment and resolved.suffix == ".md" and parts.fragment not in anchors(resolved)
        ):
            broken.append((line, target, "no such heading"))
    assert broken == []


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_repository_paths_named_in_backticks_exist(path):
    """`owners/services.py`, `tests/crm/`: a path that starts with one of the repository's
    top-level names must exist (so a moved file cannot leave the docs pointing nowhere)."""
    missing = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        for token in _BACKTICKED.findall(line):
            if ":" in token or any(c in token for c in "<>{}*$[]|"):
                continue
            first = token.split("/", 1)[0]
            if "/" in token and first in _TOP_LEVEL and not (PROJECT / token).exists():
                missing.append((line_number, token))
    assert missing == []


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_nothing_names_files_outside_the_repository(path):
    hits = [
        (number, line.strip())
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert hits == []
