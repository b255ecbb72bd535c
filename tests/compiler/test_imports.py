"""Imports with parameter overrides, aliases, libraries compiled once, and errors at the import."""

from __future__ import annotations

from pathlib import Path

from policy_engine.compiler import compile_policies, compile_text
from policy_engine.compiler.resolve import resolve
from tests.workloads import role, workload

IMPORTS = Path(__file__).parent.parent / "fixtures" / "compiler" / "imports"


def test_import_overrides_parameters_and_alias_prefixes_names() -> None:
    result = compile_policies([IMPORTS])  # the directory holds the library and its importer
    assert result.policy_set is not None, result.diagnostics
    names = [p.name for p in result.policy_set.policies]
    # the library is compiled through its importer only: no duplicate names
    assert names == ["max-gpus", "allowed-instances", "research/max-gpus", "research/allowed-instances"]
    twenty = workload(role(replicas=20, gpus=1))
    default, research = result.policy_set.get("max-gpus"), result.policy_set.get("research/max-gpus")
    assert default is not None and research is not None
    assert [v.message for v in default.violations(twenty)] == [
        "requires gpus <= max_gpus, but gpus is 20; max_gpus is 16"]
    assert research.violations(twenty) == []


def test_imports_resolve_relative_to_the_importing_file(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "base.policy").write_text('param n = 1\npolicy "b" { assert gpus <= n }\n')
    (tmp_path / "nested" / "team.policy").write_text('import "base.policy" with { n = 2 }\n')
    result = compile_policies([tmp_path / "nested" / "team.policy"])
    assert result.ok and [p.name for p in result.policy_set.policies] == ["b"]  # type: ignore[union-attr]


def test_override_type_must_match_the_parameter(tmp_path: Path) -> None:
    (tmp_path / "base.policy").write_text('param limit = 30m\npolicy "b" { require idle_timeout <= limit }\n')
    (tmp_path / "team.policy").write_text('import "base.policy" with { limit = "30m" }\n')
    result = compile_policies([tmp_path / "team.policy"])
    [diag] = result.diagnostics
    assert diag.code == "E201" and diag.span.file.endswith("team.policy")
    assert "is a duration, but the import sets it to a string" in diag.message


def test_resolve_pass_alone_reports_cycles_with_every_file(tmp_path: Path) -> None:
    for name, target in (("a", "b"), ("b", "c"), ("c", "a")):
        (tmp_path / f"{name}.policy").write_text(f'import "{target}.policy"\n')
    sources = {str(tmp_path / "a.policy"): (tmp_path / "a.policy").read_text()}
    resolution = resolve(sources)
    [diag] = resolution.diagnostics
    assert diag.code == "E402"
    assert diag.message.count(".policy") == 4 and "a.policy -> " in diag.message


def test_parameters_can_use_earlier_parameters() -> None:
    result = compile_text('param base = 4\nparam limit = base * 2\npolicy "p" { assert gpus <= limit }')
    assert result.policy_set is not None
    [policy] = result.policy_set.policies
    assert policy.violations(workload(role(gpus=8))) == []
    assert len(policy.violations(workload(role(gpus=9)))) == 1


def test_a_configmap_mount_is_compiled_once(tmp_path: Path) -> None:
    """Kubelet mounts a ConfigMap as ``..<timestamp>/`` files behind a ``..data`` symlink: hidden entries
    are skipped, so each policy is compiled once."""
    from policy_engine.compiler import compile_policies

    stamp = tmp_path / "..2026_11_23_12_00_00.000000001"
    stamp.mkdir()
    policy = 'policy "labels" {\n  match { kinds workloads }\n  require labels ["team"]\n}\n'
    (stamp / "labels.policy").write_text(policy)
    (tmp_path / "..data").symlink_to(stamp.name)
    (tmp_path / "labels.policy").symlink_to("..data/labels.policy")
    result = compile_policies([tmp_path])
    assert result.ok, result.diagnostics
    assert result.policy_set is not None and [p.name for p in result.policy_set.policies] == ["labels"]
