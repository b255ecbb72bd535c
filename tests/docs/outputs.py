"""Example outputs in README.md and docs/*.md are generated, never pasted: a marker line names how.

A marker is an HTML comment (invisible when the page is rendered) on the line right before a fenced
block; the block's content is what the marker produces::

    <!-- output: cwd=tests/fixtures/check exit=1 -- check tree --policies policies --root . -->
    ```
    $ cd tests/fixtures/check && policy-engine check tree --policies policies --root .
    …
    ```

Options (``key=value`` before ``--``; after it, the ``policy-engine`` arguments):

- ``cwd=DIR``: run in DIR (relative to the repository root); shown as ``cd DIR &&`` in the prompt line.
- ``repo=DIR>SUB`` and ``change=DIR``: run in a throw-away git repository whose ``main`` commit holds
  DIR's files under SUB, with DIR ``change`` copied over it afterwards (a pull request's working tree).
- ``exit=N``: the exit status the command must end with (default 0).
- ``stream=out|err|all``: stdout, stderr, or stdout then stderr (default ``all``).
- ``prompt=no``: no ``$ policy-engine …`` first line.
- ``drop-last=N`` / ``head=N``: cut the last N lines / keep the first N lines and add ``…``.
- ``json-cut=KEY:N,…``: in a JSON report (one list item per line), keep the first N items of list KEY.
- ``mask=KEY``: a timing: the number after ``"KEY":`` is replaced by ``0.1``.
- ``review=FILE policies=DIR``: no command: the webhook's decision on the AdmissionReview FILE with the
  policies in DIR, printed as ``kubectl`` prints a denial.

``<!-- file: PATH -->`` before a block: the block is the text of PATH (a fixture the example shows).

``python -m tests.docs.outputs`` lists the blocks that differ; ``--write`` (``make docs-outputs``)
rewrites them. ``tests/docs/test_outputs.py`` fails on any difference.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_MARKER = re.compile(r"^([ ]*)<!-- (output|file): (.*?) -->\n\1(```[^\n]*\n)(.*?)^\1```$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    start: int  # offset of the block's content in the page
    end: int
    kind: str  # "output" or "file"
    spec: str
    content: str  # without the indentation of a block inside a list item
    indent: str = ""

    @property
    def line(self) -> int:
        return self.page.read_text()[: self.start].count("\n") + 1

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [Block(page, m.start(5), m.end(5), m.group(2), m.group(3), _dedent(m.group(5), m.group(1)), m.group(1))
            for m in _MARKER.finditer(text)]


def _dedent(text: str, indent: str) -> str:
    return "".join(line.removeprefix(indent) for line in text.splitlines(keepends=True))


def _indent(text: str, indent: str) -> str:
    return "".join(indent + line if line.strip() else line for line in text.splitlines(keepends=True))


def all_blocks() -> Iterator[Block]:
    for page in PAGES:
        yield from blocks(page)


def _options(spec: str) -> tuple[dict[str, str], list[str]]:
    head, sep, tail = spec.partition(" -- ")
    if not sep and head.startswith("-- "):
        head, tail = "", head[3:]
    options = dict(word.split("=", 1) for word in shlex.split(head))
    return options, shlex.split(tail)


def produce(block: Block) -> str:
    """What the block must hold now."""
    if block.kind == "file":
        return (ROOT / block.spec.strip()).read_text()
    options, args = _options(block.spec)
    if "review" in options:
        return _review(options)
    with tempfile.TemporaryDirectory(prefix="docs-output-") as scratch:
        cwd = ROOT / options["cwd"] if "cwd" in options else ROOT
        if "repo" in options:
            cwd = _repository(Path(scratch), options["repo"], options.get("change"))
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(scratch) / "cache"), "NO_COLOR": "1", "COLUMNS": "100"}
        for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA", "POLICY_ENGINE_HEAD_SHA"):
            env.pop(name, None)
        run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", *args], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=300)
    expected = int(options.get("exit", "0"))
    if run.returncode != expected:
        raise AssertionError(f"{block.where()}: `policy-engine {shlex.join(args)}` exited {run.returncode}, "
                             f"the page says {expected}\n{run.stdout}\n{run.stderr}")
    stream = options.get("stream", "all")
    text = {"out": run.stdout, "err": run.stderr, "all": run.stdout + run.stderr}[stream]
    if "mask" in options:
        text = re.sub(rf'("{re.escape(options["mask"])}": )[0-9.e-]+', r"\g<1>0.1", text)
    if "json-cut" in options:
        for item in options["json-cut"].split(","):
            key, _, keep = item.partition(":")
            text = _cut_json_list(text, key, int(keep))
    lines = text.rstrip("\n").split("\n")
    if "drop-last" in options:
        lines = lines[: -int(options["drop-last"])]
    if "head" in options and len(lines) > int(options["head"]):
        lines = [*lines[: int(options["head"])], "…"]
    if options.get("prompt", "yes") != "no":
        where = f"cd {options['cwd']} && " if "cwd" in options else ""
        lines.insert(0, f"$ {where}policy-engine {shlex.join(args)}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _cut_json_list(text: str, key: str, keep: int) -> str:
    """Keep the first ``keep`` one-line items of the top-level list ``key`` of a JSON report."""
    lines = text.split("\n")
    try:
        start = lines.index(f'  "{key}": [')
    except ValueError:
        return text
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  ]"))
    items = lines[start + 1: end][:keep]
    if items:
        items[-1] = items[-1].rstrip(",")
    return "\n".join([*lines[: start + 1], *items, *lines[end:]])


def _repository(scratch: Path, base: str, change: str | None) -> Path:
    source, _, sub = base.partition(">")
    repo = scratch / "repo"
    shutil.copytree(ROOT / source, repo / sub if sub else repo)
    git = ["git", "-c", "user.email=docs@example.com", "-c", "user.name=docs", "-c", "init.defaultBranch=main",
           "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"], ["checkout", "-qb", "change"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    if change:
        shutil.copytree(ROOT / change, repo, dirs_exist_ok=True)
    return repo


def _review(options: dict[str, str]) -> str:
    """The webhook's decision (the pure function ``serve`` wraps) as ``kubectl apply`` shows a denial."""
    import json
    from datetime import date

    from policy_engine.engine import load_engine
    from policy_engine.webhook.admission import AdmissionReview
    from policy_engine.webhook.config import WebhookConfig
    from policy_engine.webhook.exemptions import RequestExemptions
    from policy_engine.webhook.review import LoadedEngine, ReviewState, decide

    body = json.loads((ROOT / options["review"]).read_text())
    request = AdmissionReview.model_validate(body).request
    assert request is not None
    policies = [str(ROOT / p) for p in options["policies"].split(",")] if "policies" in options else None
    config = WebhookConfig()
    state = ReviewState(LoadedEngine.of(load_engine(policies)), config, RequestExemptions.from_config(config),
                        date(2026, 6, 1), None)
    response = decide(request, state).response
    out = [f"Warning: {w}" for w in response.warnings or []]
    if not response.allowed and response.status is not None:
        kind = str(request.object.get("kind", "object")).lower() if isinstance(request.object, dict) else "object"
        verb = "creating" if request.operation == "CREATE" else "replacing"  # kubectl create / kubectl replace
        out.append(f'Error from server (Forbidden): error when {verb} "{request.name or kind}.yaml": admission '
                   f'webhook "workloads.policy-engine.io" denied the request: {response.status.message}')
    return "\n".join(out) + "\n"


def stale() -> list[tuple[Block, str]]:
    return [(b, new) for b in all_blocks() if (new := produce(b)) != b.content]


def write() -> list[Block]:
    changed: list[Block] = []
    for page in PAGES:
        text = page.read_text()
        for block in reversed(blocks(page)):  # from the end, so earlier offsets stay valid
            new = produce(block)
            if new != block.content:
                text = text[: block.start] + _indent(new, block.indent) + text[block.end:]
                changed.append(block)
        page.write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite the blocks that differ")
    args = parser.parse_args(argv)
    if args.write:
        for block in write():
            print(f"rewrote {block.page.relative_to(ROOT)} ({block.spec[:60]})")
        return 0
    differing = stale()
    for block, _ in differing:
        print(f"{block.where()}: differs from `{block.spec}`")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
