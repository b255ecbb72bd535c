"""Every generated example block in README.md and docs/ (``<!-- output: … -->`` / ``<!-- file: … -->``
markers, see tests/docs/outputs.py) holds exactly what its command prints today.
Refresh them with ``make docs-outputs``."""

from __future__ import annotations

import pytest

from tests.docs.outputs import Block, all_blocks, produce

BLOCKS = list(all_blocks())


def test_the_pages_that_show_outputs_have_markers() -> None:
    pages = {b.page.name for b in BLOCKS}
    assert {"check.md", "webhook.md", "language.md"} <= pages


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where() for b in BLOCKS])
def test_example_output_is_what_the_command_prints(block: Block) -> None:
    assert block.content == produce(block), f"{block.where()} is stale: run `make docs-outputs`"
