"""Reading the README and docs/ the way the doc tests need: fenced blocks with their
`<!-- readme-test: ... -->` markers, and links.

A marker is an HTML comment on the line right before a fence (invisible on GitHub):

    <!-- readme-test: run -->          runs as written after `make run` (no server needed)
    <!-- readme-test: server -->       runs as written while `make run` serves in another shell
    <!-- readme-test: skip: REASON --> not run, for the reason given (e.g. production commands)
    <!-- readme-test: output -->       on a text block after a run/server block: its expected
                                       stdout; `...` stands for any text
    <!-- readme-test: file NAME -->    on any block: the test saves its text as NAME in the
                                       working directory, as the reader is told to
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
DOCS = PROJECT / "docs"
SHELL_LANGUAGES = {"sh", "bash", "shell", "console", "zsh"}

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
_MARKER = re.compile(
    r"^\s*<!--\s*readme-test:\s*(?P<kind>[a-z]+)\s*(?::\s*|\s+)?(?P<arg>.*?)\s*-->\s*$"
)
MARKER_KINDS = {"run", "server", "skip", "output", "file"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    marker: str | None  # run, server, skip, output, file
    argument: str  # skip's reason, file's name

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    @property
    def runs(self) -> bool:
        return self.marker in ("run", "server")

    @property
    def name(self) -> str:
        """Where the block is and what it starts with: `README.md:123 (curl -s ...)`."""
        first = next((line.strip() for line in self.text.splitlines() if line.strip()), "")
        if first.startswith("#"):
            first = first.lstrip("# ")
        return f"{self.path.relative_to(PROJECT)}:{self.line} ({first[:60]})"


def fenced_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        start = i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1  # the closing fence
        marker = _MARKER.match(lines[start - 1]) if start > 0 else None
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                language=opening["info"].lower(),
                text="\n".join(body) + "\n",
                marker=marker["kind"] if marker else None,
                argument=marker["arg"] if marker else "",
            )
        )
    return blocks


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_ANGLE_LINK = re.compile(r"<((?:https?|file)://[^>\s]+)>")
_HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown and HTML link outside fenced blocks."""
    found = []
    in_fence = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fence = _FENCE.match(line)
        if fence:
            if in_fence is None:
                in_fence = fence["fence"]
            elif line.strip().startswith(in_fence):
                in_fence = None
            continue
        if in_fence is not None:
            continue
        for pattern in (_INLINE_LINK, _REFERENCE_LINK, _ANGLE_LINK, _HTML_LINK):
            found.extend((number, match.group(1)) for match in pattern.finditer(line))
    return found
