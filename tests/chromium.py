"""Headless Chromium for the tests that look at a page as a person does: the DOM after the browser built
it, console messages, and screenshots whose pixels say whether the charts were drawn.

Tests skip with ``SKIP_REASON`` where the Debian package is not installed (``.ci/run`` installs it as root).
Set ``POLICY_ENGINE_DOCS_IMAGES=docs/images`` to keep a test's screenshots there (the images in docs/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
SKIP_REASON = "headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it when run as root)"
DOCS_IMAGES = "POLICY_ENGINE_DOCS_IMAGES"


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def dump_dom(url: str, profile: Path) -> tuple[str, list[str]]:
    """The page's DOM as Chromium built it, and the console messages printed while opening it."""
    run = chromium("--dump-dom", url, profile=profile)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]


def screenshot(url: str, width: int, height: int, shot: Path, profile: Path, *, docs: bool = False) -> Path:
    """A screenshot at this window size; with ``docs`` it is also copied to ``$POLICY_ENGINE_DOCS_IMAGES``."""
    run = chromium(f"--window-size={width},{height}", f"--screenshot={shot}", url, profile=profile)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    keep = os.environ.get(DOCS_IMAGES)
    if docs and keep:
        shutil.copyfile(shot, Path(keep) / shot.name)
    return shot


def colour_pixels(png: Path, colour: tuple[int, int, int]) -> int:
    """Pixels within a small tolerance of ``colour``: a chart's bars are on the screenshot."""
    from PIL import Image  # matplotlib's own dependency: present wherever the report extra is

    with Image.open(png) as image:
        counts: list[tuple[int, tuple[int, int, int]]] = image.convert("RGB").getcolors(1 << 24) or []  # type: ignore[assignment]
    return sum(n for n, px in counts if all(abs(a - b) <= 6 for a, b in zip(px, colour, strict=True)))
