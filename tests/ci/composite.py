"""A composite GitHub Action run the way the runner runs it, for the steps that can run here.

Each ``run:`` step is written to a file and run with ``bash --noprofile --norc -eo pipefail FILE`` (the
runner's ``shell: bash``) in the workspace, under the environment the runner sets (``GITHUB_ACTION_PATH``,
``GITHUB_WORKSPACE``, ``RUNNER_TEMP``, a fresh ``GITHUB_OUTPUT`` per step, ``GITHUB_STEP_SUMMARY``,
``GITHUB_PATH`` and ``GITHUB_ENV`` applied to the steps after). ``${{ … }}`` in ``run``, ``env`` and
``with`` and every ``if:`` are evaluated over the ``inputs``, ``steps`` and ``github`` contexts with the
subset of GitHub's expression language action.yml uses (``&&``, ``||``, ``!``, ``==``, ``!=``, string
literals, ``always()``/``success()``/``failure()``); a condition without a status function is ANDed with
``success()``, as the runner does. ``uses:`` steps (other actions: setup-python, upload-sarif) cannot run
here: they are recorded with their evaluated ``with:`` so a test can check what they would be given.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\))|(?P<name>[A-Za-z_][\w.-]*))")
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_STATUS = re.compile(r"\b(always|success|failure|cancelled)\(\)")


@dataclass
class Step:
    name: str
    ran: bool
    external: str | None = None  # the `uses:` of a step that cannot run here
    with_: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    steps: list[Step]
    outputs: dict[str, str]
    summary: str
    failed: bool

    def step(self, name: str) -> Step:
        [step] = [s for s in self.steps if s.name == name]
        return step


class _Expression:
    """A recursive-descent reader over one expression's tokens; values are strings or booleans."""

    def __init__(self, text: str, context: dict[str, Any], failed: bool) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"cannot read expression {text!r} at {pos}")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.context, self.failed, self.i = context, failed, 0

    def value(self) -> Any:
        result = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self.i += 1
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._unary()
        while self._peek() == "&&":
            self.i += 1
            right = self._unary()
            left = right if truthy(left) else left
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self.i += 1
            return not truthy(self._unary())
        left = self._primary()
        if self._peek() in ("==", "!="):
            op = self.tokens[self.i][1]
            self.i += 1
            equal = str(left).lower() == str(self._primary()).lower()  # strings compare case-insensitively
            return equal if op == "==" else not equal
        return left

    def _primary(self) -> Any:
        kind, text = self.tokens[self.i]
        self.i += 1
        if text == "(":
            inner = self._or()
            self.i += 1  # ")"
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if self._peek() == "(":  # a status function
            self.i += 2
            return {"always": True, "success": not self.failed, "failure": self.failed, "cancelled": False}[text]
        node: Any = self.context
        for part in text.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return node


def truthy(value: Any) -> bool:
    return bool(value)  # false, '' and a missing value are falsy; every other string is truthy


def evaluate(text: str, context: dict[str, Any], failed: bool = False) -> Any:
    return _Expression(text, context, failed).value()


def interpolate(text: str, context: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        value = evaluate(m.group(1), context)
        return str(value).lower() if isinstance(value, bool) else str(value)

    return _EXPR.sub(one, text)


def key_values(text: str) -> dict[str, str]:
    """A ``GITHUB_OUTPUT``/``GITHUB_ENV`` file: ``name=value`` lines and ``name<<DELIMITER`` blocks."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            found[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


def run_action(action_dir: Path, workspace: Path, with_: dict[str, str], github: dict[str, Any],
               env: dict[str, str], runner_temp: Path) -> Run:
    """Run ``action_dir/action.yml`` (a composite action) with the inputs ``with_`` (defaults from the
    action for the rest) in ``workspace``; ``env`` is the job's environment (PATH etc.)."""
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {name: str(spec.get("default", "")) for name, spec in action.get("inputs", {}).items()}
    unknown = set(with_) - set(inputs)
    assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
    context: dict[str, Any] = {"github": github, "steps": {}, "inputs": {}}
    context["inputs"] = {k: interpolate(v, context) for k, v in {**inputs, **with_}.items()}
    files = runner_temp / "_runner_files"
    files.mkdir(parents=True, exist_ok=True)
    summary, path_file, env_file = files / "step_summary", files / "path", files / "env"
    for f in (summary, path_file, env_file):
        f.write_text("")
    job_env = dict(env)
    steps: list[Step] = []
    failed = False
    for number, spec in enumerate(action["runs"]["steps"]):
        name = spec.get("name", f"step {number}")
        condition = str(spec.get("if", "success()")).removeprefix("${{").removesuffix("}}")
        if not _STATUS.search(condition):
            condition = f"success() && ({condition})"
        if not truthy(evaluate(condition, context, failed)):
            steps.append(Step(name, ran=False))
            continue
        if "uses" in spec:
            steps.append(Step(name, ran=False, external=spec["uses"],
                              with_={k: interpolate(str(v), context) for k, v in spec.get("with", {}).items()}))
            continue
        assert spec.get("shell") == "bash", f"{name}: only shell: bash steps are run here"
        output = files / f"output-{number}"
        output.write_text("")
        script = files / f"step-{number}.sh"
        script.write_text(interpolate(spec["run"], context))
        extra_path = [line for line in path_file.read_text().splitlines() if line]
        step_env = {**job_env, "GITHUB_ACTION_PATH": str(action_dir), "GITHUB_WORKSPACE": str(workspace),
                    "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(output),
                    "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_PATH": str(path_file), "GITHUB_ENV": str(env_file),
                    "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_EVENT_NAME": str(github.get("event_name", "")),
                    **{k: interpolate(str(v), context) for k, v in spec.get("env", {}).items()}}
        step_env["PATH"] = os.pathsep.join([*reversed(extra_path), job_env.get("PATH", "")])
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=step_env, capture_output=True, text=True, timeout=600)
        outputs = key_values(output.read_text())
        job_env.update(key_values(env_file.read_text()))
        steps.append(Step(name, True, returncode=done.returncode, stdout=done.stdout, stderr=done.stderr,
                          outputs=outputs))
        if "id" in spec:
            context["steps"][spec["id"]] = {"outputs": outputs,
                                            "outcome": "success" if done.returncode == 0 else "failure"}
        failed = failed or done.returncode != 0
    outputs = {k: interpolate(str(v["value"]), context) for k, v in action.get("outputs", {}).items()}
    return Run(steps, outputs, summary.read_text(), failed)
