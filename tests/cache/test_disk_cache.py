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
    (entry,) = store.directory.glob("ns-*.json")
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
        entry.write_bytes(store.directory.joinpath(f"ns-{digest('other')}.json").read_bytes())
    assert store.get("ns", key) is None


def _plant(store: DiskCache, key: str, payload: bytes, secret: bytes | None = None) -> None:
    """An entry with a correct header, signed with ``secret`` (by default the store's own key: the
    strongest attacker, one who also stole the key, still gets no code run)."""
    signature = cache._signature(secret if secret is not None else store._secret(), key, payload)
    blob = b"".join([cache._MAGIC, key.encode(), b"\n", signature, b"\n", payload])
    store.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    store.directory.joinpath(f"ns-{key}.json").write_bytes(blob)


def _without_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No POLICY_ENGINE_CACHE_KEY now, nor after the test (the fallback key exports one)."""
    monkeypatch.setenv(cache.KEY_ENV, "x")
    monkeypatch.delenv(cache.KEY_ENV)


def test_an_otherwise_valid_entry_planted_without_the_key_is_a_miss(store: DiskCache) -> None:
    """Issue #13: whoever can write (and read) the cache directory cannot make an entry that is used: a
    recomputed checksum, or a signature under any key but the user's, is a miss."""
    import hashlib

    key = digest("policies")
    store.put("ns", key, {"enforcement": "deny"})
    payload = b'[]\n{"enforcement":"audit"}'  # no class used, then the value
    _plant(store, key, payload, secret=os.urandom(32))
    assert store.get("ns", key) is None
    checksum = hashlib.sha256(payload).hexdigest().encode()  # what the entries of cache format 2 carried
    _entry(store).write_bytes(b"".join([cache._MAGIC, key.encode(), b"\n", checksum, b"\n", payload]))
    assert store.get("ns", key) is None
    _plant(store, key, payload)  # the same entry signed with the user's key is used: the test can fail
    assert store.get("ns", key) == {"enforcement": "audit"}


def test_the_key_is_a_private_file_outside_the_cache(store: DiskCache, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    _without_key_env(monkeypatch)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    store.put("ns", digest("k"), "value")
    key = tmp_path / "state" / "policy-engine" / "cache-key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    assert not list(store.directory.glob("*key*"))
    assert DiskCache(store.directory).get("ns", digest("k")) == "value"  # another process, the same key
    key.write_text(os.urandom(32).hex())  # a fresh runner's key: entries restored from elsewhere are misses
    assert DiskCache(store.directory).get("ns", digest("k")) is None


def test_a_key_file_others_can_read_or_inside_the_cache_is_not_used(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    directory = tmp_path / "cache" / "policy-engine"
    _without_key_env(monkeypatch)
    monkeypatch.setattr(cache, "_process_key", [b"p" * 32])  # the fallback: this process's key
    monkeypatch.setenv("XDG_STATE_HOME", str(directory))  # a key kept where the entries are guards nothing
    fallback = cache.signing_key(directory)
    assert not (directory / "policy-engine" / "cache-key").exists()
    monkeypatch.delenv(cache.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    own = cache.signing_key(directory)
    assert own != fallback
    (tmp_path / "state" / "policy-engine" / "cache-key").chmod(0o644)
    assert cache.signing_key(directory) == fallback  # others can read it: not a secret


def test_a_shared_secret_makes_restored_entries_usable_and_is_exported_to_children(
        store: DiskCache, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import subprocess
    import sys

    _without_key_env(monkeypatch)
    monkeypatch.setenv(cache.KEY_ENV, "a CI secret")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "runner-1"))
    store.put("ns", digest("k"), "value")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "runner-2"))  # another runner, the same secret
    assert DiskCache(store.directory).get("ns", digest("k")) == "value"
    monkeypatch.delenv(cache.KEY_ENV)
    assert DiskCache(store.directory).get("ns", digest("k")) is None
    # no private key file at all (a read-only home): a key of this process, which its children inherit
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "no" / "such"))
    (tmp_path / "no").write_text("a file where a directory should be")
    monkeypatch.setattr(cache, "_process_key", [])
    parent = DiskCache(store.directory)
    parent.put("ns", digest("child"), "from the parent")
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from policy_engine.cache import DiskCache, "
         "digest; print(DiskCache(Path(sys.argv[1])).get('ns', digest('child')))", str(store.directory)],
        capture_output=True, text=True, check=True, env=dict(os.environ))
    assert child.stdout.strip() == "from the parent"


def test_a_planted_pickle_with_a_valid_checksum_runs_nothing(store: DiskCache, tmp_path: Path) -> None:
    """The attack of issue #13: a pickle that runs a command when loaded. Entries are JSON: it is a miss."""
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    key = digest("k")
    _plant(store, key, pickle.dumps(Exploit()))
    assert store.get("ns", key) is None
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    b'["os:system"]\n{"!o": [0, "touch /tmp/x"]}',
    b'["subprocess:Popen"]\n{"!o": [0, ["true"]]}',
    b'["builtins:eval"]\n{"!e": 0, "v": "1+1"}',
    b'["policy_engine.syntax.ast:Ident"]\n{"!o": [0, "x", 1, 2]}',  # a field too many
    b'["policy_engine.syntax.ast:BinOp"]\n{"!e": 0, "v": "+"}',  # a record's class called as an enum
    b'["policy_engine.syntax.ast:Ident"]\n{"!r": 0}',  # a record not built yet
    b'{"!c": "policy_engine.syntax.ast:Ident", "name": "x", "span": 1}',  # cache format 3
    b"not json",
])
def test_a_planted_entry_can_build_only_named_records(store: DiskCache, payload: bytes) -> None:
    from policy_engine.syntax import ast

    key = digest("k")
    _plant(store, key, payload)
    assert store.get("ns", key, cache.Codec(ast)) is None


def test_records_round_trip_through_the_codec(store: DiskCache) -> None:
    from policy_engine import diagnostics
    from policy_engine.syntax import ast

    codec = cache.Codec(ast, diagnostics)
    span = diagnostics.Span("p.policy", 3, 5)
    value = {"ids": (ast.Ident("team", span), ast.Literal("number", 1.5, "1.5", span)), 7: frozenset({"a"})}
    store.put("ns", digest("r"), value, codec)
    assert store.get("ns", digest("r"), codec) == value
    assert store.get("ns", digest("r")) is None  # the plain codec builds no records: a miss


def test_a_record_met_twice_is_stored_once_and_comes_back_shared(store: DiskCache) -> None:
    """A policy's tree is held by its module, its instance and its folded form: one copy on disk, one
    built, and still one object (not equal copies) after decoding."""
    from policy_engine import diagnostics
    from policy_engine.syntax import ast

    codec = cache.Codec(ast, diagnostics)
    span = diagnostics.Span("p.policy", 3, 5)
    twin = diagnostics.Span("p.policy", 3, 5)  # equal, not the same: stays a distinct object
    name = ast.Name("team", span)
    value = [name, ast.Not(name, twin), (name, span)]
    payload = codec.dumps(value)
    assert payload.count(b"p.policy") == 2
    back = codec.loads(payload)
    assert back == value
    assert back[1].operand is back[0] and back[2][0] is back[0] and back[2][1] is back[0].span
    assert back[1].span is not back[0].span


def test_a_directory_others_can_write_is_not_used(store: DiskCache, capsys: pytest.CaptureFixture[str]) -> None:
    store.put("ns", digest("k"), "value")
    store.directory.chmod(0o777)
    fresh = DiskCache(store.directory)
    assert fresh.get("ns", digest("k")) is None
    fresh.put("ns", digest("other"), "value")
    assert not (store.directory / f"ns-{digest('other')}.json").exists()
    err = capsys.readouterr().err
    assert "start-up cache off" in err and "others can write to it (mode 777; chmod 700 it)" in err


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user needs root (CI runs as root)")
def test_a_directory_of_another_user_is_not_used(store: DiskCache, capsys: pytest.CaptureFixture[str]) -> None:
    store.put("ns", digest("k"), "value")
    os.chown(store.directory, 65534, 65534)
    assert DiskCache(store.directory).get("ns", digest("k")) is None
    assert "belongs to another user" in capsys.readouterr().err


def test_a_new_directory_is_private(store: DiskCache) -> None:
    store.put("ns", digest("k"), "value")
    assert store.directory.stat().st_mode & 0o777 == 0o700


def test_an_unwritable_directory_turns_the_cache_off_silently(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    store = DiskCache(blocker / "policy-engine")
    store.put("ns", digest("k"), "value")  # no exception
    assert store.get("ns", digest("k")) is None


def test_old_entries_are_pruned(store: DiskCache) -> None:
    for i in range(KEEP + 3):
        store.put("ns", digest(str(i)), i)
        entry = store.directory / f"ns-{digest(str(i))}.json"
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
