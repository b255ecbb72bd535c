"""An on-disk cache of what start-up derives from files that rarely change, so ``check`` starts fast.

Compiling the policy library (lark, the LALR parse, type checking) and validating the bundled pricing
catalog (pydantic) cost several times what a small CI run spends on its manifests. Their results are
pure functions of a few texts and of this package's code, so they are kept here between runs.

Why a stale or damaged entry can never change a result:

* an entry's key is a SHA-256 over everything its value depends on: the input texts themselves (and
  their paths, which diagnostics name), the Python version and ``code_fingerprint()`` (path, size and
  mtime of every file of the installed package and of the entry module of each dependency that shapes
  a result: any upgrade or edit of the code is a new key, the rule Python applies to its ``.pyc`` files);
* an entry stores its key and a SHA-256 of its payload, both checked before decoding: a truncated,
  corrupt or foreign file is a miss, and so is any error while decoding;
* writes go to a temporary file renamed into place, so a reader never sees half an entry.

Entries are data, never code: JSON in which a dataclass is ``{"!c": "module:Class", ...fields}`` and
only the classes the caller names (``Codec``: the syntax tree, the checked-policy records, the pricing
catalog's records) can be built, by calling them with their fields. Unpickling could run anything an
entry says (restored CI caches, shared runners and volumes make a planted entry plausible); decoding
this can at worst build wrong records of those classes or fail, which is a miss. And no entry is read
from, or written to, a directory that is not the user's own or that others can write: the cache turns
itself off with a note on stderr instead.

Any other problem (no home directory, a read-only directory, a full disk) turns the cache off for that
call and says so at debug level; it is never an error. ``POLICY_ENGINE_NO_CACHE=1`` (or a
command's ``--no-cache``) turns it off. Entries live in ``$XDG_CACHE_HOME/policy-engine`` (default
``~/.cache/policy-engine``); a few of each kind are kept, the oldest are pruned as new ones are written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

NO_CACHE_ENV = "POLICY_ENGINE_NO_CACHE"
_MAGIC = b"policy-engine cache 2 json\n"
_SUFFIX = ".json"
#: Entries kept per namespace: a few policy sets (a repo's own, the bundled library, a branch's) fit.
KEEP = 8
_PACKAGE = Path(__file__).resolve().parent
#: Packages whose behaviour shapes what is cached: the parser, CEL, the schema validator, the YAML reader.
_DEPENDENCIES = ("lark", "celpy", "pydantic", "pydantic_core", "yaml")


def cache_disabled_by_env() -> bool:
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def default_directory() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        home = os.path.expanduser("~")
        if home == "~":
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "policy-engine"


def digest(*parts: str | bytes) -> str:
    """SHA-256 over parts, each length-prefixed so that ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Changes whenever any file of this package (code, grammar, bundled data) changes, as .pyc does,
    and whenever a dependency whose behaviour shapes a cached result is upgraded."""
    from importlib.machinery import PathFinder  # finds a package without importing it

    from policy_engine.bundled import grammar_path

    entries: list[str] = [sys.version, _MAGIC.decode()]
    for root, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                entries.append(_stat_line(os.path.join(root, name)))
    entries.append(_stat_line(str(grammar_path())))
    for package in _DEPENDENCIES:
        spec = PathFinder.find_spec(package)
        entries.append(_stat_line(spec.origin) if spec is not None and spec.origin else f"{package} missing")
    return digest(*entries)


def _stat_line(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:  # gone while we looked (an upgrade in progress): a key no later run will match
        return f"{path}\0missing\0{os.getpid()}"
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


class Codec:
    """Values to JSON and back, building only the dataclasses and enums of the given modules."""

    def __init__(self, *modules: ModuleType) -> None:
        self.classes: dict[str, type] = {}
        for module in modules:
            for value in vars(module).values():
                if isinstance(value, type) and value.__module__ == module.__name__ and (
                        dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)):
                    self.classes[f"{value.__module__}:{value.__qualname__}"] = value

    def dumps(self, value: object) -> bytes:
        return json.dumps(self._plain(value), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, data: bytes) -> object:
        return json.loads(data, object_hook=self._build)

    def _plain(self, value: Any) -> Any:
        if value is None or (isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum)):
            return value
        if isinstance(value, list):
            return [self._plain(v) for v in value]
        if isinstance(value, tuple):
            return {"!t": [self._plain(v) for v in value]}
        if isinstance(value, frozenset | set):
            return {"!s": [self._plain(v) for v in value]}
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and not k.startswith("!") for k in value):
                return {k: self._plain(v) for k, v in value.items()}
            return {"!d": [[self._plain(k), self._plain(v)] for k, v in value.items()]}
        name = f"{type(value).__module__}:{type(value).__qualname__}"
        if self.classes.get(name) is not type(value):
            raise TypeError(f"the start-up cache does not store {name}")
        if isinstance(value, enum.Enum):
            return {"!e": name, "v": self._plain(value.value)}
        out: dict[str, Any] = {"!c": name}
        record: Any = value
        for f in dataclasses.fields(record):
            if f.init:
                out[f.name] = self._plain(getattr(value, f.name))
        return out

    def _build(self, obj: dict[str, Any]) -> Any:
        if "!c" in obj:
            cls = self.classes[obj.pop("!c")]  # KeyError (a class not named): the entry is a miss
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} is not a record")
            return cls(**obj)
        if "!t" in obj:
            return tuple(obj["!t"])
        if "!d" in obj:
            return {_hashable(k): v for k, v in obj["!d"]}
        if "!s" in obj:
            return frozenset(_hashable(v) for v in obj["!s"])
        if "!e" in obj:
            return self.classes[obj["!e"]](obj["v"])
        return obj


#: JSON values, tuples, sets and non-string-keyed mappings; no records.
PLAIN = Codec()


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _safe_directory(path: Path) -> str | None:
    """Why ``path`` (an existing directory) must not hold the cache, or None when it is the user's own."""
    try:
        st = path.lstat()
    except OSError as exc:
        return f"cannot inspect it: {exc.strerror or exc}"
    import stat

    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return "it is not a directory (or is a symbolic link)"
    if not _owned(st):
        return "it belongs to another user"
    if st.st_mode & 0o022:
        return f"others can write to it (mode {st.st_mode & 0o777:o}; chmod 700 it)"
    return None


_noted: set[str] = set()


def _note(directory: Path, why: str) -> None:
    """Say once per process, on stderr, why the cache is off: a silently slow start would puzzle."""
    if str(directory) not in _noted:
        _noted.add(str(directory))
        sys.stderr.write(f"policy-engine: note: start-up cache off: {directory}: {why}\n")


class DiskCache:
    """Values by (namespace, key) in one directory, as data (``Codec``); every failure is a miss."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._checked = False

    @classmethod
    def default(cls) -> DiskCache | None:
        """The user's cache, or None when turned off or when there is no place for it."""
        if cache_disabled_by_env():
            _debug("policy cache off: %s is set", NO_CACHE_ENV)
            return None
        directory = default_directory()
        if directory is None:
            _debug("policy cache off: no home directory and no XDG_CACHE_HOME")
            return None
        return cls(directory)

    def _path(self, namespace: str, key: str) -> Path:
        return self.directory / f"{namespace}-{key}{_SUFFIX}"

    def _usable(self, create: bool) -> bool:
        """The directory exists (or, with ``create``, is made 0700) and is safe to read entries from."""
        if self._checked:
            return True
        if create:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        elif not self.directory.exists():
            return False
        why = _safe_directory(self.directory)
        if why is not None:
            _note(self.directory, why)
            return False
        self._checked = True
        return True

    def get(self, namespace: str, key: str, codec: Codec | None = None) -> object | None:
        path = self._path(namespace, key)
        try:
            if not self._usable(create=False):
                return None
            with path.open("rb") as f:
                if not _owned(os.fstat(f.fileno())):
                    _debug("policy cache: ignoring %s: it belongs to another user", path)
                    return None
                blob = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _debug("policy cache: cannot read %s: %s", path, exc)
            return None
        header = _MAGIC + key.encode() + b"\n"
        if not blob.startswith(header) or len(blob) < len(header) + 65:
            _debug("policy cache: ignoring %s: not an entry for this key", path)
            return None
        checksum, payload = blob[len(header):len(header) + 64], blob[len(header) + 65:]
        if hashlib.sha256(payload).hexdigest().encode() != checksum:
            _debug("policy cache: ignoring %s: its checksum does not match (damaged)", path)
            return None
        try:
            return (codec or PLAIN).loads(payload)
        except Exception as exc:  # damage, a record that changed shape, a class not allowed: recompute
            _debug("policy cache: ignoring %s: cannot decode: %s", path, exc)
            return None

    def put(self, namespace: str, key: str, value: object, codec: Codec | None = None) -> None:
        import tempfile  # only a miss writes

        try:
            payload = (codec or PLAIN).dumps(value)
            if not self._usable(create=True):
                return
            blob = b"".join([_MAGIC, key.encode(), b"\n", hashlib.sha256(payload).hexdigest().encode(), b"\n",
                             payload])
            fd, tmp = tempfile.mkstemp(prefix=f".{namespace}-", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, self._path(namespace, key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._prune(namespace)
        except Exception as exc:  # a value the codec cannot store, read-only directory, full disk
            _debug("policy cache: not writing %s/%s: %s", self.directory, namespace, exc)

    def _prune(self, namespace: str) -> None:
        entries = sorted(self.directory.glob(f"{namespace}-*{_SUFFIX}"), key=_mtime, reverse=True)
        for old in entries[KEEP:]:
            with contextlib.suppress(OSError):
                old.unlink()


def _debug(message: str, *args: object) -> None:
    import logging  # ~9 ms of start-up: only a miss or a problem logs

    logging.getLogger(__name__).debug(message, *args)


def _owned(st: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)  # absent on Windows, where the profile directory is private
    return getuid is None or st.st_uid == getuid()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
