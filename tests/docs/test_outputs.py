"""Every generated example block in README.md and docs/ (``<!-- output: … -->`` / ``<!-- file: … -->``
markers, see tests/docs/outputs.py) holds exactly what its command prints today.
Refresh them with ``make docs-outputs``."""

from __future__ import annotations

import re

import pytest

from tests.docs.outputs import PAGES, ROOT, Block, all_blocks, produce

BLOCKS = list(all_blocks())


def test_the_pages_that_show_outputs_have_markers() -> None:
    pages = {b.page.name for b in BLOCKS}
    assert {"check.md", "webhook.md", "language.md"} <= pages


_FENCE = re.compile(r"^([ ]*)```[^\n]*\n(.*?)^\1```$", re.M | re.S)
#: what only a command's output holds: a diagnostic, a verdict, a test summary, a prompt line
_LOOKS_PRINTED = re.compile(r"error\[[EW]\d+\]|^(FAILED|PASSED|ERROR): |^\d+ passed, \d+ failed$|^\$ policy-engine ",
                            re.M)


def test_every_printed_output_in_the_pages_is_generated() -> None:
    """A block that shows what a command prints must carry a marker (docs/tutorial.md is replayed by
    tests/authoring/test_tutorial.py instead)."""
    pasted = []
    for page in PAGES:
        if page.name == "tutorial.md":
            continue
        text = page.read_text()
        for m in _FENCE.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if _LOOKS_PRINTED.search(m.group(2)) and not before.strip().startswith(("<!-- output:", "<!-- file:")):
                pasted.append(f"{page.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}")
    assert pasted == [], "pasted outputs: add an <!-- output: … --> marker (tests/docs/outputs.py)"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where() for b in BLOCKS])
def test_example_output_is_what_the_command_prints(block: Block) -> None:
    assert block.content == produce(block), f"{block.where()} is stale: run `make docs-outputs`"
