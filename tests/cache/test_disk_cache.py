"""The start-up cache's store: a damaged, foreign or stale entry is a miss, never a wrong value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policy_engine import cache
from policy_engine.cache import KEEP, DiskCache, digest


@pytest.fixture
def store(tmp_path: Path) -> DiskCache:
    return DiskCache(tmp_path / "policy-engine")


def _entry(store: DiskCache) -> Path:
    (entry,) = store.directory.glob("ns-*.pickle")
    return entry


def test_a_value_comes_back_under_its_key_only(store: DiskCache) -> None:
    store.put("ns", digest("a"), {"x": [1, 2.5, "three"]})
    assert store.get("ns", digest("a")) == {"x": [1, 2.5, "three"]}
    assert store.get("ns", digest("b")) is None
    assert store.get("other", digest("a")) is None
    assert (store.directory.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("damage", ["flip a payload byte", "truncate", "garbage", "empty", "another key"])
def test_a_damaged_entry_is_a_miss(store: DiskCache, damage: str) -> None:
    key = digest("policies")
    store.put("ns", key, ["a value", 42])
    entry = _entry(store)
    blob = entry.read_bytes()
    if damage == "flip a payload byte":
        entry.write_bytes(blob[:-3] + bytes([blob[-3] ^ 0x01]) + blob[-2:])
    elif damage == "truncate":
        entry.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        entry.write_bytes(os.urandom(len(blob)))
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # a whole valid entry, but written for another key
        store.put("ns", digest("other"), "other value")
        entry.write_bytes(store.directory.joinpath(f"ns-{digest('other')}.pickle").read_bytes())
    assert store.get("ns", key) is None


def test_an_unpicklable_payload_with_a_valid_checksum_is_a_miss(store: DiskCache) -> None:
    import hashlib

    key = digest("k")
    payload = b"\x80\x05not a pickle"
    blob = b"".join([b"policy-engine cache 1\n", key.encode(), b"\n",
                     hashlib.sha256(payload).hexdigest().encode(), b"\n", payload])
    store.directory.mkdir(parents=True)
    store.directory.joinpath(f"ns-{key}.pickle").write_bytes(blob)
    assert store.get("ns", key) is None


def test_an_unwritable_directory_turns_the_cache_off_silently(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    store = DiskCache(blocker / "policy-engine")
    store.put("ns", digest("k"), "value")  # no exception
    assert store.get("ns", digest("k")) is None


def test_old_entries_are_pruned(store: DiskCache) -> None:
    for i in range(KEEP + 3):
        store.put("ns", digest(str(i)), i)
        entry = store.directory / f"ns-{digest(str(i))}.pickle"
        os.utime(entry, (1_000_000 + i, 1_000_000 + i))
    kept = [i for i in range(KEEP + 3) if store.get("ns", digest(str(i))) is not None]
    assert kept == list(range(3, KEEP + 3))


def test_the_location_follows_xdg_and_the_switch_turns_it_off(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    default = DiskCache.default()
    assert default is not None and default.directory == tmp_path / "policy-engine"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = DiskCache.default()
    assert default is not None and default.directory == tmp_path / "home" / ".cache" / "policy-engine"
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    assert DiskCache.default() is None


def test_the_key_parts_cannot_run_into_each_other() -> None:
    assert digest("ab", "c") != digest("a", "bc")
    assert digest("a") == digest(b"a")


def test_the_code_fingerprint_follows_the_package_and_its_dependencies(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    package, site = tmp_path / "pkg", tmp_path / "site"
    (package / "sub").mkdir(parents=True)
    (site / "dep").mkdir(parents=True)
    (package / "sub" / "code.py").write_text("x = 1\n")
    (site / "dep" / "__init__.py").write_text("version = 1\n")
    monkeypatch.setattr(cache, "_PACKAGE", package)
    monkeypatch.setattr(cache, "_DEPENDENCIES", ("dep",))
    monkeypatch.syspath_prepend(str(site))

    def fingerprint() -> str:
        cache.code_fingerprint.cache_clear()
        return cache.code_fingerprint()

    try:
        first = fingerprint()
        assert fingerprint() == first
        (package / "sub" / "code.py").write_text("x = 22\n")  # an edit of the package
        second = fingerprint()
        (site / "dep" / "__init__.py").write_text("version = 22\n")  # an upgrade of a dependency
        third = fingerprint()
        assert len({first, second, third}) == 3
    finally:
        cache.code_fingerprint.cache_clear()
