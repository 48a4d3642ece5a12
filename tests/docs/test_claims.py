"""Claims from commands: a measured figure in the README or docs/ stands only inside a block the
measuring command writes (bench/publish_docs.py), and every such block says exactly what the
command saved in bench/results/."""

from __future__ import annotations

import re

import pytest

from bench import publish_docs

DOCS = publish_docs.DOC_FILES

# What a measurement looks like: a duration, a rate, a size of memory, a case count, a load.
MEASURED = re.compile(
    r"\b\d[\d,]*(?:\.\d+)?\s?(?:ms|us|µs|MiB|requests/s|req/s|cases)\b"
    r"|\bload average (?:of )?(?:about )?\d"
    r"|\b\d+(?:\.\d+)?x (?:slower|faster|a quiet|an idle)"
    r"|\babout \d+ (?:minutes|seconds)\b"
    r"|\b\d+\.\d+ s\b"
)
# Figures that are settings or fixed by design, not measurements: each says where it is fixed.
FIXED = {
    "2 MiB": "API_MAX_BODY_BYTES's default (config/settings.py), 2,097,152 bytes",
    "2,500 schemathesis cases": "SCHEMATHESIS_MAX_EXAMPLES in the Makefile's fuzz target",
    "after 0.2 s": "the broker's retry interval (config/settings.py)",
    "+ 0.2 s = **6.2 s**": "the bound those broker timeouts give, asserted by its test",
}


def _outside_blocks(text: str) -> str:
    return publish_docs.BLOCK.sub("", text)


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_every_generated_block_says_what_its_command_saved(path):
    text = path.read_text()
    for block in publish_docs.blocks(text):
        rendered = publish_docs.RENDERERS[block.group("name")]()
        assert block.group("body") == rendered, (
            f"{path.name}: the {block.group('name')} block differs from bench/results/; run"
            " `python -m bench.publish_docs`"
        )


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_no_measured_figure_stands_outside_a_generated_block(path):
    text = _outside_blocks(path.read_text())
    found = []
    for match in MEASURED.finditer(text):
        line = text[: match.start()].count("\n") + 1
        context = text[max(0, match.start() - 20) : match.end() + 20]
        if not any(fixed in context for fixed in FIXED):
            found.append((line, match.group(0)))
    assert not found, f"{path.name}: measured figures outside generated blocks: {found}"


def test_the_bench_and_fuzz_blocks_are_where_readers_look():
    readme = (publish_docs.ROOT / "README.md").read_text()
    performance = (publish_docs.ROOT / "docs" / "performance.md").read_text()
    fuzzing = (publish_docs.ROOT / "docs" / "fuzzing.md").read_text()
    assert [b.group("name") for b in publish_docs.blocks(readme)] == []
    assert [b.group("name") for b in publish_docs.blocks(performance)] == [
        "bench-targets",
        "bench-latest",
        "bench-offboarding",
        "bench-records",
        "bench-metering",
    ]
    assert [b.group("name") for b in publish_docs.blocks(fuzzing)] == ["fuzz-latest"]
