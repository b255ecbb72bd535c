"""Benchmark ``policy-engine check`` end to end and print the figures the README quotes.

For ../shared/corpus (when present) and a generated tree of realistic AI manifests (10,000 documents by
default), with the full bundled policy library:

* the wall time and peak memory (``/usr/bin/time -v``, workers included) of the whole ``check``
  (start-up, parsing, workload model, every policy, the JSON report) with one process and with the
  default ``--jobs``, and documents/second;
* the time plain ``yaml.load_all(f, Loader=yaml.CSafeLoader)`` takes over the same files in one process,
  and the ratio (target, #12: check <= 1.0x plain parsing by default);
* the same documents in other layouts (100 files, one file, a ``helm template``-like stream on stdin):
  ``check`` splits its work by bytes, so the ratio should not depend on the layout (target: <= 1.0x
  plain parsing by default, whatever the layout);
* the peak memory of ``check -`` over a stream of ``--memory-documents`` documents (default 100,000; the
  10,000-document stream repeated), for each report format of ``--memory-formats`` (default: all), and of
  ``check DIR`` over a tree of as many (the generated tree's files hard-linked ten times over) (target:
  <= 150 MiB each); ``--memory-only`` measures nothing else;
* ``checkov -d DIR --framework kubernetes`` over the same generated tree against ``check`` (target: >= 30x
  faster; ``--checkov-documents 1000`` compares on a smaller tree, where our fixed start-up weighs more).
  checkov lives in its own venv, benchmarks/.venv-checkov (gitignored), created on first use; it is never
  a project dependency. It runs with ``--skip-download`` and ``BC_SKIP_MAPPING``: no traffic leaves the
  machine.

    .venv/bin/python benchmarks/bench_check.py [--documents 10000] [--checkov-documents N] [--no-checkov]
        [--memory-documents 100000] [--memory-formats text,json,sarif,...] [--memory-only] [--no-layouts]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from policy_engine.reporters import FORMATS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from generate_manifests import generate  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
CHECKOV_VENV = HERE / ".venv-checkov"
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Run:
    seconds: float
    peak_mib: float
    exit_code: int
    cpu: float = float("nan")  # user + system seconds, workers included: what the run cost, however loaded the machine


def manifest_files(tree: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in sorted(files) if f.endswith(SUFFIXES))
    return out


def plain_parse_cpu(files: list[Path]) -> tuple[float, float, int]:
    """Wall and CPU seconds for yaml.load_all with CSafeLoader over every file (one process), documents read."""
    started, cpu = time.perf_counter(), time.process_time()
    docs = 0
    for path in files:
        with path.open("rb") as f, contextlib.suppress(yaml.YAMLError):
            docs += sum(1 for d in yaml.load_all(f, Loader=yaml.CSafeLoader) if d is not None)
    return time.perf_counter() - started, time.process_time() - cpu, docs


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
          stdin: Path | None = None) -> Run:
    """Wall time and peak RSS (largest process, workers included) of a command, output discarded."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report, \
            (stdin.open("rb") if stdin else contextlib.nullcontext(subprocess.DEVNULL)) as given:
        started = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *cmd], cwd=cwd, env=env, stdin=given,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - started
        text = Path(report.name).read_text()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", text))
    if proc.returncode not in (0, 1, 2):
        sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
    peak = int(match.group(1)) / 1024 if match else float("nan")
    return Run(seconds, peak, proc.returncode, cpu)


def check_cmd(tree: Path | str, jobs: int | None, out: Path | None = None, fmt: str = "json") -> list[str]:
    cmd = [sys.executable, "-m", "policy_engine.cli.main", "check", str(tree), "--format", fmt]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    if out is not None:
        cmd += ["--output", f"json={out}"]
    return cmd


def ensure_checkov() -> Path:
    exe = CHECKOV_VENV / "bin" / "checkov"
    if not exe.exists():
        print(f"creating {CHECKOV_VENV} and installing checkov (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "checkov"], check=True)
    return exe


def best(runs: list[Run]) -> Run:
    """The fastest of several runs: on a shared machine the others measure its neighbours, not us."""
    return min(runs, key=lambda r: r.seconds)


@dataclass
class Paired:
    """One command's runs, each against the plain parse timed just before it, in the same round."""

    runs: list[Run]
    plain: list[tuple[float, float]]  # (wall, cpu) of the plain parse of each round

    def ratios(self) -> list[float]:
        return [r.seconds / p[0] for r, p in zip(self.runs, self.plain, strict=True)]

    def line(self, docs: int | None = None) -> str:
        """The round with the best ratio, every round's ratio, and the CPU ratio (least load-dependent)."""
        ratios = self.ratios()
        at = ratios.index(min(ratios))
        run, (plain_s, _) = self.runs[at], self.plain[at]
        cpu = min(r.cpu / p[1] for r, p in zip(self.runs, self.plain, strict=True))
        rate = f"  {docs / run.seconds:9,.0f} docs/s" if docs else ""
        return (f"{run.seconds:7.2f} s{rate}  peak {run.peak_mib:6.1f} MiB  plain {plain_s:5.2f} s  = "
                f"{ratios[at]:4.2f}x plain parse (rounds {'/'.join(f'{x:.2f}' for x in ratios)}); "
                f"cpu {cpu:4.2f}x plain's  (exit {run.exit_code})")


def paired(files: list[Path], commands: dict[str, tuple[list[str], Path | None]], repeat: int) -> dict[str, Paired]:
    """Each round times the plain parse, then each command right after it: a ratio is taken within one
    round, so that a neighbour's burst of load weighs on both sides of it (the spread of rounds is shown)."""
    out = {name: Paired([], []) for name in commands}
    for _ in range(repeat):
        for name, (cmd, stdin) in commands.items():
            wall, cpu, _docs = plain_parse_cpu(files)
            out[name].plain.append((wall, cpu))
            out[name].runs.append(timed(cmd, stdin=stdin))
    return out


def bench_tree(label: str, tree: Path, scratch: Path, repeat: int) -> float:
    """Prints the figures for one tree; returns the best wall time of check with the default jobs."""
    files = manifest_files(tree)
    _, _, plain_docs = plain_parse_cpu(files)
    report = scratch / f"{label}.json"
    subprocess.run(check_cmd(tree, None, report), stdout=subprocess.DEVNULL, check=False)
    stats = json.loads(report.read_text())
    docs = stats["stats"]["documents"]
    print(f"\n## {label}: {len(files)} files, {docs} documents checked ({plain_docs} parsed by plain yaml), "
          f"{stats['stats']['workloads']} workloads, {len(stats['findings'])} findings, "
          f"{len(stats['errors'])} errors, {stats['stats']['policies']} policies")
    print(f"({repeat} rounds; each ratio against plain yaml.load_all with CSafeLoader, 1 process, timed just before)")
    names = {"check --jobs 1": 1, f"check (default jobs, {os.cpu_count()} CPUs)": None}
    results = paired(files, {name: (check_cmd(tree, jobs), None) for name, jobs in names.items()}, repeat)
    for name, result in results.items():
        print(f"{name:<46}: {result.line(docs)}")
    split = [parent_and_workers(tree) for _ in range(repeat)]
    print(f"{'default jobs: CPU of the parent / its workers':<46}: "
          f"{min(p for p, _ in split):.2f}–{max(p for p, _ in split):.2f} s / "
          f"{min(w for _, w in split):.2f}–{max(w for _, w in split):.2f} s (the parent's is the serial part)")
    return best(results[list(names)[-1]].runs).seconds


#: ``check`` run in a process that reports its own CPU seconds and its workers' (``getrusage``) on stderr.
_SPLIT = """
import os, resource, sys
from policy_engine.cli.main import main
sys.stdout = open(os.devnull, "w")
main(sys.argv[1:])
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime, file=sys.stderr)
"""


def parent_and_workers(tree: Path) -> tuple[float, float]:
    """CPU seconds of ``check``'s parent process and of its workers, one run with the default jobs."""
    proc = subprocess.run([sys.executable, "-c", _SPLIT, *check_cmd(tree, None)[3:]], capture_output=True,
                          text=True, check=False)
    parent, workers = proc.stderr.strip().splitlines()[-1].split()
    return float(parent), float(workers)


def layouts(tree: Path, scratch: Path) -> dict[str, Path]:
    """The tree's documents as 100 files, as one file, and as one stream (``helm template`` output)."""
    files = manifest_files(tree)
    texts = [f.read_text() for f in files]
    hundred = scratch / "hundred-files"
    hundred.mkdir(exist_ok=True)
    per = -(-len(texts) // 100)
    for i in range(0, len(texts), per):
        (hundred / f"part-{i // per:03d}.yaml").write_text("".join("---\n" + t for t in texts[i:i + per]))
    one = scratch / "one-file"
    one.mkdir(exist_ok=True)
    (one / "all.yaml").write_text("".join("---\n" + t for t in texts))
    return {"100 files": hundred, "one file": one, "stdin (one stream)": one / "all.yaml"}


def bench_layouts(tree: Path, scratch: Path, repeat: int) -> None:
    """The same documents laid out differently: check's ratio to plain parsing should not move."""
    print("\n## the same documents, other layouts (check's work is split by bytes, not files)")
    print(f"({repeat} rounds; each ratio against the plain parse of the same bytes timed just before it; cpu: user"
          " + system seconds of every process of the run against the plain parse's, the least load-dependent)")
    for label, where in layouts(tree, scratch).items():
        stream = where.is_file()
        files = [where] if stream else manifest_files(where)
        commands = {f"{label}, check {'--jobs 1' if jobs else '(default)'}":
                    (check_cmd("-" if stream else where, jobs), where if stream else None) for jobs in (1, None)}
        for name, result in paired(files, commands, repeat).items():
            print(f"{name:<46}: {result.line()}")


def bench_memory(tree: Path, scratch: Path, documents: int, formats: list[str]) -> None:
    """Peak memory of ``check -`` over a long stream (the generated documents repeated), and of ``check DIR``
    over a tree of as many documents (the generated tree's files hard-linked into copies of it)."""
    one = layouts(tree, scratch)["stdin (one stream)"]
    base = one.read_bytes()
    per = sum(1 for d in yaml.load_all(base, Loader=yaml.CSafeLoader) if d is not None)
    copies = max(1, documents // per)
    stream = scratch / "long-stream.yaml"
    with stream.open("wb") as out:
        for _ in range(copies):
            out.write(base)
    big_tree = scratch / "long-tree"
    for n in range(copies):
        shutil.copytree(tree, big_tree / f"copy-{n:02d}", copy_function=os.link)
    total = per * copies
    print(f"\n## memory: check over {total:,} documents ({stream.stat().st_size / 2**20:.0f} MiB), "
          f"on stdin and as a tree of {len(manifest_files(big_tree)):,} files")
    for fmt in formats:
        run = timed([*check_cmd("-", None, fmt=fmt), "--max-file-size", "1G"], stdin=stream)  # past the 64M default
        print(f"check - --format {fmt:<28}: {run.seconds:7.2f} s  peak {run.peak_mib:6.1f} MiB  "
              f"cpu {run.cpu:6.2f} s  (exit {run.exit_code})")
        run = timed(check_cmd(big_tree, None, fmt=fmt))
        print(f"check DIR --format {fmt:<26}: {run.seconds:7.2f} s  peak {run.peak_mib:6.1f} MiB  "
              f"cpu {run.cpu:6.2f} s  (exit {run.exit_code})")


def breakdown(tree: Path, top: int = 4) -> None:
    """Where one process spends its time: import, compile, parse, model + pricing per kind, each policy."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import policy_engine.cli.check"],
                          capture_output=True, text=True, check=False)
    imported = int(proc.stderr.strip().splitlines()[-1].split("|")[1]) / 1e6 if proc.stderr else float("nan")
    from policy_engine.engine import load_engine
    from policy_engine.model.documents import Document, discover, load_paths

    started = time.perf_counter()
    engine = load_engine()
    compiled = time.perf_counter() - started
    files = list(discover([str(tree)]))
    parse = 0.0
    by_kind: dict[str, float] = defaultdict(float)
    by_policy: dict[str, float] = defaultdict(float)
    for i in range(0, len(files), 64):
        t = time.perf_counter()
        docs = [d for d in load_paths(files[i:i + 64]) if isinstance(d, Document)]
        parse += time.perf_counter() - t
        for doc in docs:
            t = time.perf_counter()
            w = engine.workload(doc)
            by_kind[doc.kind] += time.perf_counter() - t
            if w is None:
                continue
            for policy in engine.policies.for_kind(w.kind):
                t = time.perf_counter()
                with contextlib.suppress(Exception):
                    if policy.applies(w):
                        policy.violations(w)
                by_policy[policy.name] += time.perf_counter() - t
    kinds = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])[:top])
    policies = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(by_policy.items(), key=lambda kv: -kv[1])[:top])
    print(f"where one process spends it: import {imported:.2f} s, compile the library {compiled:.2f} s, "
          f"parse {parse:.2f} s, model + pricing {sum(by_kind.values()):.2f} s ({kinds}), "
          f"policies {sum(by_policy.values()):.2f} s ({policies})")


def bench_checkov(tree: Path, documents: int, ours: float | None, repeat: int) -> None:
    """checkov once (it takes minutes on a large tree) against our best run over the same tree."""
    exe = ensure_checkov()
    if ours is None:
        ours = best([timed(check_cmd(tree, None)) for _ in range(repeat)]).seconds
    offline = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "TRUE"}
    theirs = timed([str(exe), "-d", str(tree), "--framework", "kubernetes", "--quiet", "--compact",
                    "--skip-download", "-o", "json"], env=offline)
    print(f"\n## vs checkov {checkov_version(exe)}, the same {documents:,} generated documents")
    print(f"checkov -d DIR --framework kubernetes        : {theirs.seconds:7.2f} s  "
          f"peak {theirs.peak_mib:6.1f} MiB")
    print(f"policy-engine check (best of {repeat})              : {ours:7.2f} s")
    print(f"speed-up                                     : {theirs.seconds / ours:7.1f}x")


def checkov_version(exe: Path) -> str:
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "?"


def compiled_bytecode(scratch: Path) -> None:
    """Let the measured runs keep their compiled bytecode, as an installed tool does (pip compiles it): where
    writing it is turned off (``PYTHONDONTWRITEBYTECODE``, as in this project's sandboxes), every run would
    compile some 80 modules afresh, 0.1 s of start-up no user pays. They keep it in the scratch directory,
    never in the source tree; the first run of each tree (not timed) fills it."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(scratch / "bytecode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=10_000, help="size of the generated tree")
    parser.add_argument("--checkov-documents", type=int, default=None,
                        help="compare with checkov on a tree of this size (default: the generated tree)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is kept")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov comparison")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-stage breakdown")
    parser.add_argument("--no-layouts", action="store_true", help="skip the 100-file, one-file and stdin layouts")
    parser.add_argument("--memory-documents", type=int, default=100_000,
                        help="documents in the stream whose peak memory is measured (0: skip)")
    parser.add_argument("--memory-formats", default=",".join(FORMATS),
                        help="comma-separated report formats whose peak memory is measured (default: all)")
    parser.add_argument("--memory-only", action="store_true", help="measure only the memory of the long stream")
    args = parser.parse_args()
    os.chdir(REPO)
    scratch = Path(tempfile.mkdtemp(prefix="bench-check-"))
    compiled_bytecode(scratch)
    try:
        print(f"# policy-engine check benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, bytecode "
              f"cached as installed; load average at start {os.getloadavg()[0]:.1f})")
        if CORPUS.is_dir() and not args.memory_only:
            bench_tree("shared corpus", CORPUS, scratch, args.repeat)
        elif not args.memory_only:
            print(f"(skipping the shared corpus: {CORPUS} is absent)")
        tree = scratch / "generated"
        generate(tree, args.documents)
        if args.memory_only:
            bench_memory(tree, scratch, args.memory_documents or 100_000, args.memory_formats.split(","))
            return
        ours: float | None = bench_tree(f"generated {args.documents:,} documents", tree, scratch, args.repeat)
        if not args.no_layouts:
            bench_layouts(tree, scratch, args.repeat)
        if args.memory_documents:
            bench_memory(tree, scratch, args.memory_documents, args.memory_formats.split(","))
        if not args.no_breakdown:
            breakdown(tree)
        if not args.no_checkov:
            size = args.checkov_documents or args.documents
            if size != args.documents:
                tree, ours = scratch / "checkov-tree", None
                generate(tree, size)
            bench_checkov(tree, size, ours, args.repeat)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
