"""An on-disk cache of what start-up derives from files that rarely change, so ``check`` starts fast.

Compiling the policy library (lark, the LALR parse, type checking) and validating the bundled pricing
catalog (pydantic) cost several times what a small CI run spends on its manifests. Their results are
pure functions of a few texts and of this package's code, so they are kept here between runs.

Why a stale or damaged entry can never change a result:

* an entry's key is a SHA-256 over everything its value depends on: the input texts themselves (and
  their paths, which diagnostics name), the Python version and ``code_fingerprint()`` (path, size and
  mtime of every file of the installed package and of the entry module of each dependency that shapes
  a result: any upgrade or edit of the code is a new key, the rule Python applies to its ``.pyc`` files);
* an entry stores its key and a SHA-256 of its payload, both checked before unpickling: a truncated,
  corrupt or foreign file is a miss, and so is any error while unpickling;
* writes go to a temporary file renamed into place, so a reader never sees half an entry.

Any problem (no home directory, a read-only or foreign-owned directory, a full disk) turns the cache off
for that call and says so at debug level; it is never an error. ``POLICY_ENGINE_NO_CACHE=1`` (or a
command's ``--no-cache``) turns it off. Entries live in ``$XDG_CACHE_HOME/policy-engine`` (default
``~/.cache/policy-engine``); a few of each kind are kept, the oldest are pruned as new ones are written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
from pathlib import Path

NO_CACHE_ENV = "POLICY_ENGINE_NO_CACHE"
_MAGIC = b"policy-engine cache 1\n"
_SUFFIX = ".pickle"
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

    entries: list[str] = [sys.version, str(pickle.HIGHEST_PROTOCOL)]
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


class DiskCache:
    """Pickled values by (namespace, key) in one directory; every failure is a miss, never an error."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

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

    def get(self, namespace: str, key: str) -> object | None:
        path = self._path(namespace, key)
        try:
            with path.open("rb") as f:
                if not _owned(os.fstat(f.fileno())):  # pickles are code: load only our own
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
            return pickle.loads(payload)
        except Exception as exc:  # any damage or a class that moved: recompute
            _debug("policy cache: ignoring %s: cannot unpickle: %s", path, exc)
            return None

    def put(self, namespace: str, key: str, value: object) -> None:
        import tempfile  # only a miss writes

        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            self._ensure_directory()
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
        except Exception as exc:  # unpicklable value, read-only or foreign directory, full disk
            _debug("policy cache: not writing %s/%s: %s", self.directory, namespace, exc)

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _owned(self.directory.stat()):
            raise PermissionError(f"{self.directory} belongs to another user")

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
