"""Bar charts as inline SVG, drawn by matplotlib (the optional ``report`` extra).

Each chart is a horizontal bar chart of labelled values: the shape every showback breakdown takes. Text
stays text in the SVG (``svg.fonttype = none``), so the page is small, searchable and readable by screen
readers; ids are salted with a fixed value so the same data gives the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from policy_engine.errors import PolicyEngineError

MAX_BARS = 12
PERCENT_AXIS_MAX = 250.0  # a forecast beyond this is cut at the edge; its label still says how far
_STYLE = {
    "svg.fonttype": "none", "svg.hashsalt": "policy-engine", "font.size": 9, "font.family": "sans-serif",
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#888888",
}
COLOURS = {"spend": "#3b6ea8", "saving": "#2e8b57", "warn": "#c0392b", "forecast": "#b8cde6",
           "unmeasured": "#a7afb8"}


class ChartsUnavailable(PolicyEngineError, RuntimeError):
    """matplotlib is not installed: the HTML report needs the ``report`` extra."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("svg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ChartsUnavailable(
            "the HTML report draws its charts with matplotlib: pip install 'policy-engine[report]'") from exc
    return plt


def bar_chart(labels: Sequence[str], values: Sequence[float], *, unit: str, colour: str = COLOURS["spend"]) -> str:
    """An inline ``<svg>`` element: one bar per label in the order given, values printed at the bar ends.

    Zero values are left out (the table under the chart keeps them); more than ``MAX_BARS`` labels are
    folded into one "N others" bar so the chart stays legible. The section's heading is the chart's title.
    """
    plt = _pyplot()
    pairs = [(label, value) for label, value in zip(labels, values, strict=True) if value]
    if len(pairs) > MAX_BARS:
        rest = pairs[MAX_BARS - 1:]
        pairs = [*pairs[:MAX_BARS - 1], (f"{len(rest)} others", sum(v for _, v in rest))]
    pairs.reverse()  # matplotlib draws the first bar at the bottom
    with plt.rc_context(_STYLE):
        height = 0.9 + 0.32 * max(len(pairs), 1)
        fig, ax = plt.subplots(figsize=(6.4, height))
        try:
            names = [_short(n) for n, _ in pairs]
            numbers = [v for _, v in pairs]
            bars = ax.barh(range(len(pairs)), numbers, color=colour, height=0.62)
            ax.set_yticks(range(len(pairs)), names)
            if not pairs:
                ax.text(0.5, 0.5, "nothing priced", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlabel(unit)
            ax.bar_label(bars, labels=[_money(v) for v in numbers], padding=3, fontsize=8)
            ax.set_xlim(0, (max(numbers, default=0.0) or 1.0) * 1.22)
            ax.xaxis.set_major_formatter(lambda x, _pos: _axis(x))
            return _svg(fig)
        finally:
            plt.close(fig)


def _svg(fig: Any) -> str:
    """The figure as an ``<svg>`` element (no XML prolog or doctype: it is inlined in HTML)."""
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def percent_chart(labels: Sequence[str], used: Sequence[float], forecast: Sequence[float], *,
                  lines: Sequence[float] = (50.0, 80.0, 100.0)) -> str:
    """Per group, the share of its limit used so far (dark) and forecast for the period's end (light), with
    dashed lines at the alert thresholds: how close each team is to its budget or quota."""
    plt = _pyplot()
    rows = list(zip(labels, used, forecast, strict=True))[:MAX_BARS]
    rows.reverse()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.36 * max(len(rows), 1)))
        try:
            ys = range(len(rows))
            ax.barh(ys, [f for _, _, f in rows], color=COLOURS["forecast"], height=0.62, label="forecast")
            bars = ax.barh(ys, [u for _, u, _ in rows], color=COLOURS["spend"], height=0.62, label="used")
            ax.bar_label(bars, labels=[f"{u:.0f}% (forecast {f:.0f}%)" for _, u, f in rows], padding=3, fontsize=8)
            ax.set_yticks(list(ys), [_short(n) for n, _, _ in rows])
            top = min(max([100.0, *(f for _, _, f in rows), *(u for _, u, _ in rows)]) * 1.1, PERCENT_AXIS_MAX)
            for line in lines:
                ax.axvline(line, color=COLOURS["warn"] if line >= 100 else "#888888", linestyle="--", linewidth=1)
            ax.set_xlim(0, top)
            ax.set_xlabel("% of the period's limit")
            ax.legend(loc="lower right", fontsize=8, frameon=False)
            return _svg(fig)
        finally:
            plt.close(fig)


def split_chart(labels: Sequence[str], parts: Sequence[tuple[str, str, Sequence[float]]], *, unit: str) -> str:
    """One stacked bar per label, its segments ``(name, colour, values)`` in order (e.g. used, idle,
    unmeasured), the total printed at the bar's end; labels whose segments are all zero are left out (the
    table under the chart keeps them), then at most ``MAX_BARS`` labels in the order given."""
    plt = _pyplot()
    keep = [i for i in range(len(labels)) if any(values[i] for _, _, values in parts)][:MAX_BARS]
    n = len(keep)
    names = [_short(labels[i]) for i in keep][::-1]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 1.1 + 0.32 * max(n, 1)))
        try:
            left = [0.0] * n
            drawn = False
            for name, colour, values in parts:
                segment = [values[i] for i in keep][::-1]
                if any(segment):
                    ax.barh(range(n), segment, left=left, color=colour, height=0.62, label=name)
                    drawn = True
                left = [a + b for a, b in zip(left, segment, strict=True)]
            ax.set_yticks(range(n), names)
            for y, total in enumerate(left):
                ax.text(total, y, " " + _money(total), va="center", fontsize=8)
            ax.set_xlim(0, (max(left, default=0.0) or 1.0) * 1.22)
            ax.set_xlabel(unit)
            ax.xaxis.set_major_formatter(lambda x, _pos: _axis(x))
            if drawn:
                ax.legend(loc="lower right", fontsize=8, frameon=False)
            else:
                ax.text(0.5, 0.5, "nothing spent", ha="center", va="center", transform=ax.transAxes)
            return _svg(fig)
        finally:
            plt.close(fig)


def daily_chart(days: Sequence[str], values: Sequence[float], *, unit: str) -> str:
    """Spend per day as vertical bars, oldest first."""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        try:
            ax.bar(range(len(days)), list(values), color=COLOURS["spend"], width=0.7)
            step = max(1, -(-len(days) // 8))
            ax.set_xticks(list(range(0, len(days), step)), [d[5:] for d in days[::step]])
            ax.set_ylabel(unit)
            ax.yaxis.set_major_formatter(lambda y, _pos: _axis(y))
            return _svg(fig)
        finally:
            plt.close(fig)


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _axis(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"
