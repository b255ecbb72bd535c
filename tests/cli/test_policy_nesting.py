"""Issue #13: deeply nested policies in every command that reads them.

At ``MAX_NESTING`` levels every construct compiles, evaluates, formats, explains and tests, and still
does with hundreds of frames already on the stack (the compiler's passes and closures recurse per
level); one level more is a located E310 with exit 2 from each command, never a traceback (main crashed
on 1,000 nested quantifiers or maps, and put its E310 for 400 `not`s at column 1)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli.main import main
from policy_engine.syntax.parser import MAX_NESTING

POD = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {team: ml}}\n"
       "spec:\n  containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 1}}}]\n")

#: A condition nested exactly ``MAX_NESTING`` levels per construct, true for the Pod above.
AT_LIMIT = {
    "nots": "not " * (MAX_NESTING - 1) + "(gpus < 1)",  # an odd number of nots: true
    "negations": "gpus > " + "-" * (MAX_NESTING - 1) + "1",
    "sums": "gpus < " + " + ".join(["1"] * MAX_NESTING),
    "quantifiers": "".join(f"all c{i} in containers: " for i in range(MAX_NESTING - 1)) + "gpus > 0",
    "ors": "gpus < 0 or (" * (MAX_NESTING - 1) + "gpus > 0" + ")" * (MAX_NESTING - 1),
    "fields": "object" + ".a" * (MAX_NESTING - 1) + " == null",
    "indexes": "object" + '["a"]' * (MAX_NESTING - 1) + " == null",
}


def policy_file(conditions: dict[str, str]) -> str:
    return "".join(f'policy "{name}" {{\n  description "{name}"\n  severity low\n  enforcement deny\n'
                   f"  match {{\n    kinds workloads\n  }}\n  forbid {condition}\n}}\n\n"
                   for name, condition in conditions.items())


def _deep_stack(frames: int, call: Callable[[], Any]) -> Any:
    """``call()`` with ``frames`` more frames on the stack, as from a caller deep in a server."""
    return call() if frames == 0 else _deep_stack(frames - 1, call)


def test_every_command_handles_the_limit_with_stack_to_spare(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    limit = sys.getrecursionlimit()  # (cel-python raises it when first used in the process)
    sys.setrecursionlimit(1_000)  # the interpreter's default: what the margin is measured against
    try:
        _commands_at_the_limit(tmp_path, capsys)
    finally:
        sys.setrecursionlimit(limit)


def _commands_at_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "limit.policy"
    policy.write_text(policy_file(AT_LIMIT))
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "limit.test.yaml").write_text(
        "policies: [limit.policy]\nresources: [pod.yaml]\ncases:\n"
        + "".join(f"  - {{policy: {name}, resource: Pod/p, expect: fail}}\n" for name in AT_LIMIT))

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = _deep_stack(300, lambda: main(list(argv)))
        out = capsys.readouterr()
        return code, out.out + out.err

    code, said = run("fmt", str(policy))  # formatted in place (long lines wrapped): the rest reads that
    assert code == 0 and "1 file reformatted" in said, said
    assert run("fmt", "--check", str(policy))[0] == 0
    code, said = run("validate", str(policy))
    assert code == 0, said
    code, said = run("check", "--format", "json", "--policies", str(policy), str(tmp_path / "pod.yaml"))
    findings = json.JSONDecoder().raw_decode(said)[0]["findings"]  # (the summary follows on stderr)
    assert code == 1 and sorted(f["policy"] for f in findings) == sorted(AT_LIMIT), said
    for name in AT_LIMIT:
        code, said = run("explain", "--policy", name, "--policies", str(policy), str(tmp_path / "pod.yaml"))
        assert code == 1 and f"policy {name} (" in said and ": FAIL: " in said, said  # 1: a violation
    code, said = run("test", str(tmp_path / "limit.test.yaml"))
    assert code == 0 and said.splitlines()[-1] == f"{len(AT_LIMIT)} passed, 0 failed", said


#: Each construct nested 1,000 levels (main: a RecursionError traceback for maps and quantifiers).
TOO_DEEP = {
    "maps": "gpus in " + "{1: " * 1_000 + "1" + "}" * 1_000,
    "quantifiers": "".join(f"all c{i} in containers: " for i in range(1_000)) + "gpus > 0",
    "nots": "not " * 1_000 + "gpus > 0",
}


def test_a_policy_past_the_limit_is_a_located_e310_and_exit_2_in_every_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "deep.policy"
    text = policy_file(TOO_DEEP)
    policy.write_text(text)
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "deep.test.yaml").write_text("policies: [deep.policy]\nresources: [pod.yaml]\n"
                                             "cases:\n  - {policy: maps, resource: Pod/p, expect: pass}\n")
    lines = [number for number, line in enumerate(text.splitlines(), 1) if line.startswith("  forbid")]
    column = len("  forbid ") + 1
    quantifiers = len("".join(f"all c{i} in containers: " for i in range(MAX_NESTING)))
    expected = [f"deep.policy:{lines[0]}:{column + len('gpus in ') + 4 * (MAX_NESTING - 1)}: error[E310]",
                f"deep.policy:{lines[1]}:{column + quantifiers}: error[E310]",
                f"deep.policy:{lines[2]}:{column + 4 * MAX_NESTING}: error[E310]"]
    for argv in (["validate", str(policy)], ["fmt", "--check", str(policy)], ["fmt", str(policy)],
                 ["check", "--policies", str(policy), str(tmp_path / "pod.yaml")],
                 ["explain", "--policy", "maps", "--policies", str(policy), str(tmp_path / "pod.yaml")],
                 ["test", str(tmp_path / "deep.test.yaml")]):
        code = main(argv)
        out = capsys.readouterr()
        said = out.out + out.err
        assert code == 2, (argv, said)
        assert [line for line in expected if line in said] == expected, (argv, said)
        assert f"expression nested more than {MAX_NESTING} levels deep" in said
    assert policy.read_text() == text  # fmt leaves a file it cannot parse alone
