"""A reply's table as a PNG that stays readable on a phone (Discord's dark theme).

Discord on a phone shows a code-block table with wrapped lines once it is wider than ~40 characters; an image
scales to the screen instead. Laid out on a monospace grid (DejaVu Sans Mono ships with matplotlib), so the
width is known without measuring text, rendered with ``matplotlib.figure.Figure`` on Agg (no pyplot): safe in
threads and worker processes. Signed cells ("+$1.2M", "-4.0%") are green or red.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bot.render.chart import BG, BUY, GRID, MUTED, SELL, SPINE, TEXT
from bot.render.reply import Reply, Table

log = logging.getLogger(__name__)

FONT = "DejaVu Sans Mono"
FONT_PT = 20  # at 100 dpi: ~28 px text, ~12 px once a phone scales a 1000 px image to its width
DPI = 100
CHAR_W = 0.602 * FONT_PT * DPI / 72  # DejaVu Sans Mono advance width is 0.602 em
ROW_H = 1.75 * FONT_PT * DPI / 72
PAD = 28.0  # px around the table
GAP_CHARS = 2  # between columns
MAX_CELL = 28  # characters; longer cells end in "…"
MAX_ROWS = 40
MIN_WIDTH = 640.0
STRIPE = "#313338"  # Discord's message background: a quiet zebra on the embed colour


def _clip(text: str, width: int = MAX_CELL) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tone(cell: str) -> str:
    stripped = cell.strip()
    if stripped.startswith(("+", "▲")) and any(ch.isdigit() for ch in stripped):
        return BUY
    if stripped.startswith(("-", "−", "▼")) and any(ch.isdigit() for ch in stripped):
        return SELL
    return TEXT


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        lines.append(line)
    return lines


def render_table_png(table: Table, *, title: str = "", notes: Sequence[str] = ()) -> bytes:
    """PNG bytes of ``table``: header, zebra rows, numbers right-aligned as ``table.align`` says."""
    columns = [_clip(c) for c in table.columns]
    rows = [[_clip(c) for c in row] for row in table.rows[:MAX_ROWS]]
    extra = len(table.rows) - len(rows)
    align = list(table.align) + [">"] * (len(columns) - len(table.align))
    widths = [max([len(c), *(len(r[i]) for r in rows if i < len(r))]) for i, c in enumerate(columns)]
    chars = sum(widths) + GAP_CHARS * (len(widths) - 1)
    width_px = max(MIN_WIDTH, 2 * PAD + chars * CHAR_W)
    inner = width_px - 2 * PAD
    heading = [ln for part in (title, table.title) if part for ln in _wrap(part, int(inner / (CHAR_W * 0.95)))]
    footer = [ln for n in [*notes, *([f"… and {extra} more rows"] if extra else [])]
              for ln in _wrap(n, int(inner / (CHAR_W * 0.8)))]
    height_px = (2 * PAD + ROW_H * (max(len(rows), 1) + 1) + 0.3 * ROW_H
                 + (len(heading) * ROW_H + 0.3 * ROW_H if heading else 0)
                 + (len(footer) * ROW_H * 0.8 + 0.4 * ROW_H if footer else 0))

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor=BG)
    FigureCanvasAgg(fig)

    def text(x_px: float, y_px: float, s: str, **kw: object) -> None:
        # y_px is the row's centre line measured from the top
        fig.text(x_px / width_px, 1 - y_px / height_px, s, va="center", family=FONT, **kw)  # type: ignore[arg-type]

    y = PAD
    for line in heading:
        text(PAD, y + ROW_H / 2, line, color=TEXT, fontsize=FONT_PT * 0.95, fontweight="bold")
        y += ROW_H
    if heading:
        y += 0.3 * ROW_H

    lefts: list[float] = []
    x = PAD
    for w in widths:
        lefts.append(x)
        x += (w + GAP_CHARS) * CHAR_W

    def cells(values: Sequence[str], y_mid: float, colour: str | None, weight: str) -> None:
        for i, value in enumerate(values[: len(widths)]):
            right = align[i] == ">"
            x_px = lefts[i] + (widths[i] * CHAR_W if right else 0)
            text(x_px, y_mid, value, color=colour or _tone(value), fontsize=FONT_PT, fontweight=weight,
                 ha="right" if right else "left")

    cells(columns, y + ROW_H / 2, MUTED, "bold")
    y += ROW_H
    rule_y = 1 - (y + 0.15 * ROW_H) / height_px
    fig.add_artist(Rectangle((PAD / width_px, rule_y), (width_px - 2 * PAD) / width_px, 2 / height_px,
                             transform=fig.transFigure, facecolor=SPINE, edgecolor="none"))
    y += 0.3 * ROW_H
    for n, row in enumerate(rows):
        if n % 2 == 1:
            fig.add_artist(Rectangle(((PAD - 8) / width_px, 1 - (y + ROW_H) / height_px),
                                     (width_px - 2 * PAD + 16) / width_px, ROW_H / height_px,
                                     transform=fig.transFigure, facecolor=STRIPE, edgecolor="none"))
        cells(row, y + ROW_H / 2, None, "normal")
        y += ROW_H
    if not rows:
        text(PAD, y + ROW_H / 2, "(no rows)", color=MUTED, fontsize=FONT_PT)
        y += ROW_H
    if footer:
        y += 0.4 * ROW_H
        for line in footer:
            text(PAD, y + 0.4 * ROW_H, line, color=MUTED, fontsize=FONT_PT * 0.8)
            y += 0.8 * ROW_H
    fig.patch.set_edgecolor(GRID)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor=BG, pil_kwargs={"compress_level": 6})
    return buf.getvalue()


def reply_table_png(reply: Reply) -> bytes | None:
    """The reply's table as a PNG, titled with the reply's title and its notes underneath; None without a
    table."""
    if reply.table is None:
        return None
    return render_table_png(reply.table, title=reply.title, notes=reply.notes)
