"""The compile cache: an unchanged policy set skips the front end; any change to what it read recompiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.bundled import bundled_policies_dir
from policy_engine.cache import DiskCache
from policy_engine.compiler import compile_policies, frontend
from tests.workloads import role, workload


@pytest.fixture
def store(tmp_path: Path) -> DiskCache:
    return DiskCache(tmp_path / "cache")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the real front end (parse, resolve, check, fold) ran."""
    runs: list[int] = []
    real = frontend.run_front_end

    def run(*args: object, **kwargs: object) -> object:
        runs.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(frontend, "run_front_end", run)
    return runs


def _messages(result: object, gpus: int) -> list[str]:
    policy_set = result.policy_set  # type: ignore[attr-defined]
    return [v.message for p in policy_set.policies for v in p.violations(workload(role(gpus=gpus)))]


def test_a_hit_compiles_the_same_policies_without_the_front_end(store: DiskCache, counted: list[int]) -> None:
    fresh = compile_policies([bundled_policies_dir()])
    first = compile_policies([bundled_policies_dir()], cache=store)
    second = compile_policies([bundled_policies_dir()], cache=store)
    assert len(counted) == 2  # fresh, then the miss that wrote the entry; the third call was a hit
    for result in (first, second):
        assert result.policy_set is not None
        assert [p.name for p in result.policy_set.policies] == [p.name for p in fresh.policy_set.policies]  # type: ignore[union-attr]
        assert result.diagnostics == fresh.diagnostics
        assert result.sources == fresh.sources
        assert [c.instance.name for c in result.checked] == [c.instance.name for c in fresh.checked]


def test_changing_a_policy_file_recompiles(tmp_path: Path, store: DiskCache, counted: list[int]) -> None:
    policy = tmp_path / "max.policy"
    policy.write_text('policy "max" { assert gpus <= 4 }\n')
    assert _messages(compile_policies([policy], cache=store), 6) == ["requires gpus <= 4, but gpus is 6"]
    assert _messages(compile_policies([policy], cache=store), 6) == ["requires gpus <= 4, but gpus is 6"]
    assert len(counted) == 1
    policy.write_text('policy "max" { assert gpus <= 8 }\n')
    assert _messages(compile_policies([policy], cache=store), 6) == []
    assert len(counted) == 2


def test_changing_an_imported_file_recompiles(tmp_path: Path, store: DiskCache, counted: list[int]) -> None:
    base, team = tmp_path / "lib" / "base.policy", tmp_path / "team.policy"
    base.parent.mkdir()
    base.write_text('param n = 1\npolicy "b" { assert gpus <= n }\n')
    team.write_text('import "lib/base.policy" with { n = 2 }\n')
    assert _messages(compile_policies([team], cache=store), 3) == ["requires gpus <= n, but gpus is 3; n is 2"]
    base.write_text('param n = 1\npolicy "b" { assert gpus < n }\n')  # only the imported file changes
    assert _messages(compile_policies([team], cache=store), 3) == ["requires gpus < n, but gpus is 3; n is 2"]
    assert len(counted) == 2
    base.unlink()  # and an import that went missing is reported, not served from the cache
    assert [d.code for d in compile_policies([team], cache=store).diagnostics] == ["E401"]


def test_a_corrupt_entry_is_ignored_and_replaced(tmp_path: Path, store: DiskCache, counted: list[int]) -> None:
    policy = tmp_path / "max.policy"
    policy.write_text('policy "max" { assert gpus <= 4 }\n')
    compile_policies([policy], cache=store)
    [entry] = store.directory.glob("frontend-*")
    entry.write_bytes(entry.read_bytes()[:-10] + b"0123456789")
    assert _messages(compile_policies([policy], cache=store), 6) == ["requires gpus <= 4, but gpus is 6"]
    assert len(counted) == 2
    compile_policies([policy], cache=store)
    assert len(counted) == 2  # the recompiled entry was written back whole


def test_sets_with_errors_are_never_cached(tmp_path: Path, store: DiskCache) -> None:
    policy = tmp_path / "bad.policy"
    policy.write_text('policy "bad" { assert gpus <= }\n')
    assert not compile_policies([policy], cache=store).ok
    assert not list(store.directory.glob("frontend-*"))


def test_a_tampered_entry_describing_other_valid_policies_is_a_miss(tmp_path: Path, store: DiskCache,
                                                                    counted: list[int]) -> None:
    """Issue #13: an attacker who can write the cache directory rewrites the entry of ``gpus <= 4`` to say
    ``gpus <= 40`` (still a valid checked policy) with a recomputed checksum. It is not used: at worst a miss."""
    import hashlib

    from policy_engine import cache

    policy = tmp_path / "max.policy"
    policy.write_text('policy "max" { assert gpus <= 4 }\n')
    compile_policies([policy], cache=store)
    (entry,) = store.directory.glob("*.json")
    blob = entry.read_bytes()
    header, _, rest = blob.partition(b"\n")
    key, _, rest = rest.partition(b"\n")
    _, _, payload = rest.partition(b"\n")
    literal = b'"number",4,"4"'
    assert literal in payload  # the checked AST (and its folded form) holds the literal 4
    tampered = payload.replace(literal, b'"number",40,"40"')

    def plant(signature: bytes) -> None:
        entry.write_bytes(b"\n".join([header, key, signature, tampered]))

    plant(hashlib.sha256(tampered).hexdigest().encode())  # a recomputed checksum
    assert _messages(compile_policies([policy], cache=store), 6) == ["requires gpus <= 4, but gpus is 6"]
    assert len(counted) == 2  # the planted entry was a miss: the front end ran again
    compile_policies([policy], cache=store)
    assert len(counted) == 2  # and its own entry, written again, is a hit
    plant(cache._signature(store._secret(), key.decode(), tampered))  # with the user's key it would be used
    assert _messages(compile_policies([policy], cache=store), 6) == []
