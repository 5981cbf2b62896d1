"""The reports' charts as inline SVG drawn on the server: no script, no outside file.

pygal was tried first and left: it has no right-to-left layout (its value axis is always on
the left, its legend and titles are laid out left to right) and its tooltips need its
script. Here the geometry is worked out in Python and written by templates/charts.html: in
Arabic the labels stand on the right, bars grow leftwards and time runs from right to left,
with the value axis on the right. Every number drawn is given already formatted in the
staff member's language, and every bar carries its figure as text (and as a <title>, the
browser's own tooltip), so the chart reads without hovering.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Colours that stay apart for the usual colour blindnesses (Okabe-Ito), then greys.
PALETTE = ("#0f6b5c", "#e69f00", "#56b4e9", "#cc79a7", "#d55e00", "#0072b2", "#999999")
CHAR_WIDTH = 7.0  # px per character of an axis label, for thinning labels that would overlap


def _anchor(rtl: bool, align_right: bool) -> str:
    """The SVG text-anchor that puts text's right (or left) edge at its x, whichever the
    writing direction ("start" is the right edge in right-to-left text)."""
    return "start" if rtl == align_right else "end"


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    anchor: str
    text: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    tip: str  # the figure, for the browser's tooltip


@dataclass(frozen=True)
class Chart:
    """What templates/charts.html draws: rectangles, texts, grid lines, and the legend."""

    id: str
    title: str
    width: int
    height: int
    rtl: bool
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    lines: tuple[tuple[float, float, float, float], ...]
    legend: tuple[tuple[str, str], ...]  # (colour, name), shown as HTML beside the svg
    empty: bool


def bar_chart(
    id: str,
    title: str,
    bars: Sequence[tuple[str, float, str]],
    rtl: bool,
    width: int = 640,
    label_width: int = 210,
) -> Chart:
    """Horizontal bars, one a row: (label, value, the value as shown)."""
    row, gap, pad = 26, 8, 8
    value_room = 12 + CHAR_WIDTH * max((len(shown) for _, _, shown in bars), default=4)
    height = pad * 2 + max(1, len(bars)) * (row + gap)
    origin = width - pad - label_width if rtl else pad + label_width
    room = width - 2 * pad - label_width - value_room
    top = max((value for _, value, _ in bars), default=0) or 1
    rects, texts = [], []
    for n, (label, value, shown) in enumerate(bars):
        y = pad + n * (row + gap)
        length = max(0.0, value) / top * room
        x = origin - length if rtl else origin
        rects.append(Rect(x, y, length, row, PALETTE[0], f"{label}: {shown}"))
        label_x = width - pad if rtl else pad
        # From the outer edge; a label too long for its room is cut (the tooltip has it all).
        texts.append(Text(label_x, y + row * 0.68, "start", _fit(label, label_width)))
        value_x = origin - length - 6 if rtl else origin + length + 6
        texts.append(Text(value_x, y + row * 0.68, _anchor(rtl, rtl), shown))
    axis = ((origin, pad / 2, origin, height - pad / 2),)
    return Chart(id, title, width, height, rtl, tuple(rects), tuple(texts), axis, (), not bars)


def _fit(label: str, room: float) -> str:
    most = int(room / CHAR_WIDTH)
    return label if len(label) <= most else label[: most - 1] + "…"


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round steps from 0 to at least `top`: 0, 5, 10, 15 rather than 0, 3.7, 7.4; never
    below 1 (the charts show counts, and ratings from 1 to 5)."""
    if top <= 0:
        return [0, 1]
    raw = max(top / count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * n for n in range(math.ceil(top / step - 1e-9) + 1)]


def column_chart(
    id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    rtl: bool,
    shown: Sequence[str] | None = None,
    number: object = str,
    width: int = 900,
    height: int = 280,
) -> Chart:
    """Columns over time, the series stacked: `labels` oldest first (drawn from the right in
    Arabic); `shown`, if given, is each column's figure as printed above it; `number`
    formats the axis's figures."""
    fmt = number if callable(number) else str
    top_pad, bottom, axis_room, pad = 16, 34, 52, 8
    left = pad if rtl else axis_room
    right = width - axis_room if rtl else width - pad
    plot_h = height - top_pad - bottom
    totals = [sum(values[n] for _, values in series) for n in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0))
    scale = plot_h / (ticks[-1] or 1)
    step = (right - left) / max(1, len(labels))
    bar_w = max(2.0, step * 0.7)
    rects, texts, lines = [], [], []
    for tick in ticks:
        y = top_pad + plot_h - tick * scale
        lines.append((left, y, right, y))
        tick_x = width - pad if rtl else axis_room - 6
        texts.append(Text(tick_x, y + 4, _anchor(rtl, True), str(fmt(tick))))
    widest = CHAR_WIDTH * max((len(label) for label in labels), default=1) + 12
    every = max(1, math.ceil(widest / step))
    for n, label in enumerate(labels):
        x = (right - (n + 1) * step if rtl else left + n * step) + (step - bar_w) / 2
        base: float = top_pad + plot_h
        for k, (name, values) in enumerate(series):
            h = values[n] * scale
            if h > 0:
                base -= h
                tip = f"{label} · {name}: {fmt(values[n])}"
                rects.append(Rect(x, base, bar_w, h, PALETTE[k % len(PALETTE)], tip))
        middle = x + bar_w / 2
        if shown is not None and totals[n] > 0:
            texts.append(Text(middle, base - 4, "middle", shown[n]))
        if n % every == 0:
            texts.append(Text(middle, height - bottom + 16, "middle", label))
    legend = tuple((PALETTE[k % len(PALETTE)], name) for k, (name, _) in enumerate(series))
    empty = not any(totals)
    return Chart(
        id, title, width, height, rtl, tuple(rects), tuple(texts), tuple(lines), legend, empty
    )
