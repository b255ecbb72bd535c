"""An on-disk cache of what start-up derives from files that rarely change, so ``check`` starts fast.

Compiling the policy library (lark, the LALR parse, type checking) and validating the bundled pricing
catalog (pydantic) cost several times what a small CI run spends on its manifests. Their results are
pure functions of a few texts and of this package's code, so they are kept here between runs.

Why a stale or damaged entry can never change a result:

* an entry's key is a SHA-256 over everything its value depends on: the input texts themselves (and
  their paths, which diagnostics name), the Python version and ``code_fingerprint()`` (path, size and
  mtime of every file of the installed package and of the entry module of each dependency that shapes
  a result: any upgrade or edit of the code is a new key, the rule Python applies to its ``.pyc`` files);
* an entry stores its key and an HMAC-SHA-256 of key and payload under a secret that the cache
  directory does not hold (below), both checked before decoding: a truncated, corrupt, foreign or
  *planted* file is a miss, and so is any error while decoding;
* writes go to a temporary file renamed into place, so a reader never sees half an entry.

Who can write the directory is not who can sign: the cache may be restored from a CI cache that another
branch's job wrote, sit on a runner others use, or be a pod's ``emptyDir`` that another container mounts.
Whoever can write there and read everything in it can recompute a plain checksum, so a planted entry
could describe other (valid) policies for the same sources. The HMAC key is kept elsewhere
(``signing_key``): ``POLICY_ENGINE_CACHE_KEY`` when set (a CI secret, so restored caches are reused across
runners by jobs that hold the secret, and by nobody else), else a random key in a private file of the
user's state directory (``$XDG_STATE_HOME/policy-engine/cache-key``, default ``~/.local/state``), else a
random key for this process and its children. A planted or re-signed entry is then, at worst, a miss.

Entries are data, never code: JSON naming the classes it uses, in which a dataclass is its class's number
and its fields, and only the classes the caller names (``Codec``: the syntax tree, the checked-policy
records, the pricing catalog's records) can be built, by calling them with their fields. Unpickling could
run anything an entry says (restored CI caches, shared runners and volumes make a planted entry plausible); decoding
this can at worst build wrong records of those classes or fail, which is a miss. And no entry is read
from, or written to, a directory that is not the user's own or that others can write: the cache turns
itself off with a note on stderr instead.

Any other problem (no home directory, a read-only directory, a full disk) turns the cache off for that
call and says so at debug level; it is never an error. ``POLICY_ENGINE_NO_CACHE=1`` turns it off for a
process and its children; ``turned_off()`` (a command's ``--no-cache``) for what runs inside it, leaving the
environment alone. Entries live in ``$XDG_CACHE_HOME/policy-engine`` (default
``~/.cache/policy-engine``); a few of each kind are kept, the oldest are pruned as new ones are written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

NO_CACHE_ENV = "POLICY_ENGINE_NO_CACHE"
#: The secret entries are signed with (any string; e.g. a CI secret), when not the user's own key file.
KEY_ENV = "POLICY_ENGINE_CACHE_KEY"
_MAGIC = b"policy-engine cache 4 json hmac\n"
_SUFFIX = ".json"
#: Entries kept per namespace: a few policy sets (a repo's own, the bundled library, a branch's) fit.
KEEP = 8
_PACKAGE = Path(__file__).resolve().parent
#: Packages whose behaviour shapes what is cached: the parser, CEL, the schema validator, the YAML reader.
_DEPENDENCIES = ("lark", "celpy", "pydantic", "pydantic_core", "yaml")


def cache_disabled_by_env() -> bool:
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("", "0", "false", "no")


_off: ContextVar[bool] = ContextVar("policy_engine_cache_off", default=False)


@contextlib.contextmanager
def turned_off() -> Iterator[None]:
    """No entry read or written inside: ``--no-cache`` for one load, without touching ``os.environ`` (which
    would outlive it in the process). A worker process is told so explicitly (``engine.batch``)."""
    token = _off.set(True)
    try:
        yield
    finally:
        _off.reset(token)


def default_directory() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        home = os.path.expanduser("~")
        if home == "~":
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "policy-engine"


def key_file() -> Path | None:
    """Where the user's signing key lives: the state directory, which CI caches and volumes do not share."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if home == "~":
            return None
        base = os.path.join(home, ".local", "state")
    return Path(base) / "policy-engine" / "cache-key"


_process_key: list[bytes] = []  # the fallback key of this process, once made


def signing_key(directory: Path) -> bytes:
    """The secret that signs and checks entries in ``directory``, never stored in it (see the module doc).

    ``POLICY_ENGINE_CACHE_KEY`` when set; else the user's key file (created 0600 in a 0700 directory on
    first use; refused when it is not the user's own, others can read it, or it lies inside ``directory``);
    else a random key, exported in this process's environment so that the children it starts (the webhook's
    compile child) share it.
    """
    secret = os.environ.get(KEY_ENV, "")
    if secret:
        return hashlib.sha256(b"policy-engine cache key\n" + secret.encode("utf-8", "surrogatepass")).digest()
    path = key_file()
    if path is not None:
        key = _user_key(path, directory)
        if key is not None:
            return key
    if not _process_key:
        _process_key.append(os.urandom(32))
        os.environ[KEY_ENV] = _process_key[0].hex()
        _debug("policy cache: no private key file; entries are signed with a key of this process")
    return hashlib.sha256(b"policy-engine cache key\n" + _process_key[0].hex().encode()).digest()


def _user_key(path: Path, directory: Path) -> bytes | None:
    """The key in ``path``, made on first use; None when it cannot be had safely."""
    import stat

    try:
        resolved_dir = directory.resolve()
        if path.resolve() == resolved_dir or resolved_dir in path.resolve().parents:
            _debug("policy cache: the key file %s is inside the cache directory: not used", path)
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32).hex().encode())
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or not _owned(st) or st.st_mode & 0o077:
                _debug("policy cache: the key file %s is not a private file of this user: not used", path)
                return None
            secret = f.read(4096).strip()
    except OSError as exc:  # a read-only home, a race with another process creating it: the fallback
        _debug("policy cache: cannot use the key file %s: %s", path, exc)
        return None
    if len(secret) < 32:
        return None
    return hashlib.sha256(b"policy-engine cache key\n" + secret).digest()


def _signature(secret: bytes, key: str, payload: bytes) -> bytes:
    return hmac.new(secret, key.encode() + b"\n" + payload, hashlib.sha256).hexdigest().encode()


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
    _tree_lines(str(_PACKAGE), entries)
    entries.append(_stat_line(str(grammar_path())))
    for package in _DEPENDENCIES:
        spec = PathFinder.find_spec(package)
        entries.append(_stat_line(spec.origin) if spec is not None and spec.origin else f"{package} missing")
    return digest(*entries)


def _tree_lines(directory: str, out: list[str]) -> None:
    """``_stat_line`` of every file under ``directory`` but bytecode, in the order ``os.walk`` gives (a
    directory's files by name, then its subdirectories; linked directories not entered, hidden ones and
    ``__pycache__`` skipped), with one ``scandir`` a directory: the package's ~230 files, on every start."""
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:
        return
    subdirectories = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if entry.name != "__pycache__" and not entry.name.startswith(".") and not entry.is_symlink():
                subdirectories.append(entry.path)
        elif not entry.name.endswith((".pyc", ".pyo")):
            try:
                st = entry.stat()
            except OSError:  # gone while we looked (an upgrade in progress): a key no later run will match
                out.append(f"{entry.path}\0missing\0{os.getpid()}")
                continue
            out.append(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}")
    for path in subdirectories:
        _tree_lines(path, out)


def _stat_line(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:  # gone while we looked (an upgrade in progress): a key no later run will match
        return f"{path}\0missing\0{os.getpid()}"
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


class Codec:
    """Values to JSON and back, building only the dataclasses and enums of the given modules.

    A payload is two lines: the JSON list of the classes it uses (``"module:Qualname"``), then the value,
    in which a record is ``{"!o": [class, field, field, ...]}`` (its ``__init__`` fields in order, the class
    an index into that list), a record met again is ``{"!r": n}`` (the n-th record built, counting as the
    decoder completes them: children first), an enum ``{"!e": class, "v": value}``, a tuple ``{"!t": [...]}``,
    a set ``{"!s": [...]}`` and a mapping with other than plain string keys ``{"!d": [[k, v], ...]}``.
    Records shared in the value (a policy's tree held by its module, its instance and its folded form, a span
    several nodes carry) are stored and built once and come back shared, as they were.
    """

    def __init__(self, *modules: ModuleType) -> None:
        self.classes: dict[str, type] = {}
        for module in modules:
            for value in vars(module).values():
                if isinstance(value, type) and value.__module__ == module.__name__ and (
                        dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)):
                    self.classes[f"{value.__module__}:{value.__qualname__}"] = value

    def dumps(self, value: object) -> bytes:
        encoder = _Encoder(self.classes)
        body = json.dumps(encoder.plain(value), separators=(",", ":"), ensure_ascii=False)
        return (json.dumps(encoder.names, ensure_ascii=False) + "\n" + body).encode("utf-8")

    def loads(self, data: bytes) -> object:
        table, sep, body = data.partition(b"\n")
        names = json.loads(table)
        if not sep or not isinstance(names, list):
            raise ValueError("not a payload of this codec")
        classes = [self.classes[name] for name in names]  # KeyError (a class not named): the entry is a miss
        records: list[Callable[..., object] | None] = [
            cls if dataclasses.is_dataclass(cls) else None for cls in classes]
        enums = [cls if issubclass(cls, enum.Enum) else None for cls in classes]
        built: list[object] = []
        append = built.append

        def build(obj: dict[str, Any]) -> Any:
            if "!o" in obj:
                fields = obj["!o"]
                record = records[fields[0]](*fields[1:])  # None (an enum): TypeError, a miss
                append(record)
                return record
            if "!r" in obj:
                return built[obj["!r"]]
            if "!t" in obj:
                return tuple(obj["!t"])
            if "!d" in obj:
                return {_hashable(k): v for k, v in obj["!d"]}
            if "!s" in obj:
                return frozenset(_hashable(v) for v in obj["!s"])
            if "!e" in obj:
                return enums[obj["!e"]](obj["v"])
            return obj

        return json.loads(body, object_hook=build)


class _Encoder:
    """One ``Codec.dumps``: the classes met (numbered) and the records already written (by identity)."""

    def __init__(self, classes: Mapping[str, type]) -> None:
        self.classes = classes
        self.names: list[str] = []
        self.numbers: dict[str, int] = {}
        self.fields: dict[type, tuple[str, ...]] = {}
        self.written: dict[int, tuple[int, object]] = {}  # id → (record number, the record, kept alive)

    def plain(self, value: Any) -> Any:
        if value is None or (isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum)):
            return value
        if isinstance(value, list):
            return [self.plain(v) for v in value]
        if isinstance(value, tuple):
            return {"!t": [self.plain(v) for v in value]}
        if isinstance(value, frozenset | set):
            return {"!s": [self.plain(v) for v in value]}
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and not k.startswith("!") for k in value):
                return {k: self.plain(v) for k, v in value.items()}
            return {"!d": [[self.plain(k), self.plain(v)] for k, v in value.items()]}
        if isinstance(value, enum.Enum):
            return {"!e": self._number(type(value)), "v": self.plain(value.value)}
        seen = self.written.get(id(value))
        if seen is not None:
            return {"!r": seen[0]}
        number = self._number(type(value))
        out = [number, *(self.plain(getattr(value, name)) for name in self._fields(type(value)))]
        self.written[id(value)] = (len(self.written), value)  # numbered after its fields: as the decoder builds
        return {"!o": out}

    def _number(self, cls: type) -> int:
        name = f"{cls.__module__}:{cls.__qualname__}"
        if self.classes.get(name) is not cls:
            raise TypeError(f"the start-up cache does not store {name}")
        if name not in self.numbers:
            self.numbers[name] = len(self.names)
            self.names.append(name)
        return self.numbers[name]

    def _fields(self, cls: type) -> tuple[str, ...]:
        names = self.fields.get(cls)
        if names is None:
            fields = [f for f in dataclasses.fields(cls) if f.init]
            if any(f.kw_only for f in fields):  # built positionally
                raise TypeError(f"the start-up cache does not store {cls.__qualname__}: keyword-only fields")
            names = self.fields[cls] = tuple(f.name for f in fields)
        return names


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
        self._key: bytes | None = None

    def _secret(self) -> bytes:
        if self._key is None:
            self._key = signing_key(self.directory)
        return self._key

    @classmethod
    def default(cls) -> DiskCache | None:
        """The user's cache, or None when turned off or when there is no place for it."""
        if _off.get():
            _debug("policy cache off for this load (--no-cache)")
            return None
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
        signature, payload = blob[len(header):len(header) + 64], blob[len(header) + 65:]
        if not hmac.compare_digest(_signature(self._secret(), key, payload), signature):
            _debug("policy cache: ignoring %s: its signature does not match (damaged, or not written here)", path)
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
            blob = b"".join([_MAGIC, key.encode(), b"\n", _signature(self._secret(), key, payload), b"\n", payload])
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
