"""The issuer chart: split-adjusted closes with insider purchases and sales, and monthly net flow.

Rendered with ``matplotlib.figure.Figure`` on an Agg canvas (no pyplot, no rcParams changes), so it is safe
in a worker process and in threads. ``render_issuer_chart`` is a top-level function of picklable arguments
for ``ProcessPoolExecutor.submit``.

Form 4 prices are as reported on the trade date; the price line is split-adjusted. Every trade price is
divided by ``SplitTable.factor_after(ticker, day)`` before plotting, so a 2021 TSLA sale reported at
$1,100 sits on the line at ~$367 (3-for-1 split in 2022).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from bot.prices import PriceSeries, SplitTable

Side = Literal["buy", "sell"]

# Discord dark theme (message background #313338, embeds #2b2d31) and its text colours.
BG = "#2b2d31"
GRID = "#3f4147"
SPINE = "#4e5058"
TEXT = "#f2f3f5"
MUTED = "#b5bac1"
LINE = "#8ea1e1"
BUY = "#23a55a"
SELL = "#f23f43"

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 8.0, 100  # 1200 x 800 px
TITLE_PT, LABEL_PT, TICK_PT, NOTE_PT = 24, 16, 15, 13
MIN_AREA, MAX_AREA = 60.0, 1100.0  # scatter marker area in pt^2; area is proportional to dollars
MIN_VIEW_DAYS = 120  # a single trade still gets a few months of context
CLOSE_GAP_DAYS = 7  # how far a priceless trade may look for "the day's close" (weekends, holidays)


@dataclass(frozen=True, slots=True)
class ChartTrade:
    """One open-market trade as the chart needs it; ``price`` and ``shares`` as reported on the Form 4."""

    day: date
    side: Side
    shares: float
    price: float | None
    value_cents: int

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"ChartTrade.side must be 'buy' or 'sell', not {self.side!r}")


@dataclass(frozen=True, slots=True)
class TradePoint:
    """All trades of one side on one day, on the price line's (split-adjusted) basis.

    ``price`` is the share-weighted average of the priced trades divided by the split factor, or the day's
    close when none had a price (``price_source`` says which), or None when neither exists.
    """

    day: date
    side: Side
    price: float | None
    price_source: Literal["reported", "close"] | None
    shares: float  # split-adjusted
    value_cents: int
    trades: int
    split_factor: float


def adjusted_trade_points(
    trades: Sequence[ChartTrade],
    prices: PriceSeries | None,
    splits: SplitTable | None,
    ticker: str | None,
) -> list[TradePoint]:
    """Aggregate trades per (day, side) and bring their prices to the split-adjusted basis."""
    groups: dict[tuple[date, Side], list[ChartTrade]] = {}
    for t in trades:
        groups.setdefault((t.day, t.side), []).append(t)
    points: list[TradePoint] = []
    for (day, side), group in sorted(groups.items()):
        factor = splits.factor_after(ticker, day) if splits is not None and ticker else 1.0
        priced = [t for t in group if t.price is not None and t.price > 0 and t.shares > 0]
        price: float | None = None
        source: Literal["reported", "close"] | None = None
        if priced:
            shares = sum(t.shares for t in priced)
            price = sum(t.shares * float(t.price or 0.0) for t in priced) / shares / factor
            source = "reported"
        elif prices is not None:
            found = prices.close_on_or_before(day, CLOSE_GAP_DAYS) or prices.close_on_or_after(
                day, CLOSE_GAP_DAYS
            )
            if found is not None:
                price, source = found[1], "close"
        points.append(
            TradePoint(
                day=day,
                side=side,
                price=price,
                price_source=source,
                shares=sum(t.shares for t in group) * factor,
                value_cents=sum(t.value_cents for t in group),
                trades=len(group),
                split_factor=factor,
            )
        )
    return points


def monthly_net_flow(trades: Sequence[ChartTrade]) -> list[tuple[date, int]]:
    """(first day of month, purchases minus sales in cents) for every month with a trade, in order."""
    net: dict[date, int] = {}
    for t in trades:
        month = t.day.replace(day=1)
        signed = t.value_cents if t.side == "buy" else -t.value_cents
        net[month] = net.get(month, 0) + signed
    return sorted(net.items())


# --------------------------------------------------------------------------------------------------------
# Formatting


def format_dollars(value: float, *, signed: bool = False) -> str:
    """$950, $12K, $1.5M, -$8.8B: one decimal below 10 units, none above."""
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    v = abs(value)
    for unit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= unit * 0.9995:
            scaled = v / unit
            text = f"{scaled:.1f}" if scaled < 9.95 else f"{scaled:.0f}"
            return f"{sign}${text.removesuffix('.0')}{suffix}"
    return f"{sign}${v:.0f}"


def _format_price(value: float, _pos: object = None) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 10:
        return f"${value:.1f}".replace(".0", "")
    return f"${value:.2f}".rstrip("0").rstrip(".")


def _nice_floor(value: float) -> float:
    """Largest 1/2/5 x 10^k not above ``value`` (for size-legend reference values)."""
    if value <= 0:
        return 0.0
    exp = math.floor(math.log10(value))
    for m in (5, 2, 1):
        if m * 10**exp <= value:
            return float(m * 10**exp)
    return float(10**exp)


def _areas(values_cents: np.ndarray, vmax_cents: float) -> np.ndarray:
    # Area proportional to dollars (diameter ~ sqrt), floored so a small trade stays visible.
    if vmax_cents <= 0:
        return np.full(len(values_cents), MIN_AREA)
    return np.maximum(MIN_AREA, MAX_AREA * values_cents / vmax_cents)


# --------------------------------------------------------------------------------------------------------
# Rendering


def _window(
    trades: Sequence[ChartTrade], prices: PriceSeries | None, start: date | None, end: date | None
) -> tuple[date, date, date, date]:
    """(first, last) day of the data to include, then the (left, right) edges of the view.

    Data: the caller's bounds win; else the trades' span; else the whole price series; else the last year.
    View: that span padded so edge markers are not cut in half, and at least ~4 months wide.
    """
    if trades:
        lo, hi = min(t.day for t in trades), max(t.day for t in trades)
    elif prices is not None and prices.first_day and prices.last_day:
        lo, hi = prices.first_day, prices.last_day
    else:
        hi = end or date.today()
        lo = hi - timedelta(days=365)
    lo, hi = start or lo, end or hi
    if hi < lo:
        raise ValueError(f"chart window starts {lo} after it ends {hi}")
    span = (hi - lo).days
    pad = max(7, round(span * 0.04), (MIN_VIEW_DAYS - span + 1) // 2)
    return lo, hi, lo - timedelta(days=pad), hi + timedelta(days=pad)


def _style_axes(ax: Axes) -> None:
    ax.set_facecolor(BG)
    for name, spine in ax.spines.items():
        spine.set_visible(name in ("left", "bottom"))
        spine.set_color(SPINE)
    ax.tick_params(colors=MUTED, labelcolor=TEXT, labelsize=TICK_PT, length=4)
    ax.grid(True, color=GRID, linewidth=0.8)
    # No minor ticks: they cost a third of the render time (log axes make dozens) and add only clutter.
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_axisbelow(True)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED,
            fontsize=LABEL_PT + 2)


def _date_axis(ax: Axes, lo: date, hi: date) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, show_offset=False)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlim(float(mdates.date2num(lo)), float(mdates.date2num(hi)))


def render_issuer_chart(
    trades: Sequence[ChartTrade],
    prices: PriceSeries | None,
    *,
    title: str,
    splits: SplitTable | None = None,
    ticker: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> bytes:
    """PNG bytes (1200x800) of the issuer chart; see the module docstring for the price basis."""
    ticker = ticker or (prices.ticker if prices is not None else None)
    lo, hi, view_lo, view_hi = _window(trades, prices, start, end)
    trades = [t for t in trades if lo <= t.day <= hi]
    window = prices.between(view_lo, view_hi) if prices is not None else None
    has_line = window is not None and len(window) >= 2
    points = adjusted_trade_points(trades, window if has_line else None, splits, ticker)
    plotted = [p for p in points if p.price is not None]
    flow = monthly_net_flow(trades)

    notes = _footnote(points, splits, ticker, window if has_line else None)
    if has_line and window is not None:
        notes.append(f"Prices: {window.source.split(' (')[0]}")
    footnote = _wrap(notes, 100)
    bottom = 0.085 + 0.028 * footnote.count("\n")  # room for the date labels above the footnote

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=BG)
    FigureCanvasAgg(fig)
    left, right = 0.095, 0.975
    fig.text(left, 0.955, title, color=TEXT, fontsize=TITLE_PT, fontweight="bold", ha="left", va="center")
    fig.text(left, 0.012, footnote, color=MUTED, fontsize=NOTE_PT - 1, ha="left", va="bottom",
             linespacing=1.4)

    top_panel = has_line or bool(plotted)
    if top_panel:
        gs = fig.add_gridspec(2, 1, height_ratios=(2.5, 1.0), hspace=0.12, left=left, right=right,
                              top=0.86, bottom=bottom)
        ax_price = fig.add_subplot(gs[0])
        ax_flow = fig.add_subplot(gs[1], sharex=ax_price)
        _draw_price_panel(fig, ax_price, window if has_line else None, plotted, points, left)
        ax_price.tick_params(labelbottom=False)
    else:
        gs = fig.add_gridspec(1, 1, left=left, right=right, top=0.80, bottom=bottom)
        ax_flow = fig.add_subplot(gs[0])
        if trades:
            fig.text(left, 0.885, "No price data: monthly net insider flow only", color=MUTED,
                     fontsize=LABEL_PT, ha="left", va="center")
    _draw_flow_panel(ax_flow, flow, bool(trades), top_panel)
    _date_axis(ax_flow, view_lo, view_hi)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor=BG, pil_kwargs={"compress_level": 3})
    return buf.getvalue()


def _draw_price_panel(
    fig: Figure,
    ax: Axes,
    window: PriceSeries | None,
    plotted: list[TradePoint],
    points: list[TradePoint],
    left: float,
) -> None:
    _style_axes(ax)
    ys: list[float] = []
    if window is not None:
        x = mdates.date2num(window.closes.index.to_numpy())
        y = window.closes.to_numpy()
        ax.plot(x, y, color=LINE, linewidth=1.8, zorder=2, solid_joinstyle="round")
        ys.extend((float(y.min()), float(y.max())))
    else:
        ax.text(0.99, 0.96, "no price data: trades at their reported prices", transform=ax.transAxes,
                ha="right", va="top", color=MUTED, fontsize=NOTE_PT)

    vmax = float(max((p.value_cents for p in points), default=0))
    # Sales first so purchases (rarer, and the ones with predictive value) are drawn on top.
    for side, marker, colour in (("sell", "v", SELL), ("buy", "^", BUY)):
        pts = [p for p in plotted if p.side == side]
        if not pts:
            continue
        px = mdates.date2num([p.day for p in pts])
        py = np.array([p.price for p in pts], dtype=float)
        sizes = _areas(np.array([p.value_cents for p in pts], dtype=float), vmax)
        # Big trades first so small markers on the same spot stay on top and visible.
        order = np.argsort(-sizes)
        ax.scatter(px[order], py[order], s=sizes[order], marker=marker, c=colour, alpha=0.75,
                   edgecolors=TEXT, linewidths=0.8, zorder=3)
        ys.extend((float(py.min()), float(py.max())))

    if ys and min(ys) > 0 and max(ys) / min(ys) > 8:
        # A decade of a growth stock is unreadable on a linear axis.
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(FuncFormatter(_format_price))
    ax.margins(y=0.08)  # big markers at the extremes stay inside the panel
    if window is None and ys and max(ys) / min(ys) < 1.25:
        # Markers alone (no line) can sit within cents of each other: give them a readable range.
        mid = (max(ys) + min(ys)) / 2
        ax.set_ylim(mid * 0.8, mid * 1.2)

    # Legend in the header band, outside the data: buy/sell and two reference sizes.
    handles: list[Line2D] = []
    sides = {p.side for p in points}
    if "buy" in sides:
        handles.append(Line2D([], [], marker="^", linestyle="", color=BUY, markersize=13, label="Purchases"))
    if "sell" in sides:
        handles.append(Line2D([], [], marker="v", linestyle="", color=SELL, markersize=13, label="Sales"))
    big = _nice_floor(vmax / 100)
    for ref in (big, _nice_floor(big / 10)) if plotted else ():
        if ref <= 0:
            continue
        area = float(_areas(np.array([ref * 100]), vmax)[0])
        if area <= MIN_AREA and ref != big:
            continue
        handles.append(Line2D([], [], marker="v", linestyle="", color=MUTED, alpha=0.8,
                              markersize=math.sqrt(area), label=format_dollars(ref)))
    if window is not None:
        handles.insert(0, Line2D([], [], color=LINE, linewidth=2.5, label="Daily close (split-adjusted)"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(left - 0.01, 0.9), ncol=len(handles),
               frameon=False, fontsize=NOTE_PT + 1, labelcolor=TEXT, handletextpad=0.4, columnspacing=1.3,
               borderaxespad=0.0)


def _draw_flow_panel(ax: Axes, flow: list[tuple[date, int]], any_trades: bool, compact: bool) -> None:
    _style_axes(ax)
    ax.set_title("Monthly net insider flow (purchases - sales)", loc="left", color=MUTED,
                 fontsize=NOTE_PT + 1, pad=6)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3 if compact else 6, symmetric=False))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_dollars(v)))
    ax.axhline(0, color=SPINE, linewidth=1.0, zorder=1)
    if not flow:
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        if any_trades:
            _note(ax, "no dollar values reported")
        else:
            _note(ax, "no insider purchases or sales in this period" if compact
                  else "No price data and no insider purchases or sales in this period")
        return
    # Bars centred mid-month so they sit under that month's markers.
    x = mdates.date2num([m + timedelta(days=14) for m, _ in flow])
    dollars = np.array([c / 100 for _, c in flow], dtype=float)
    colours = [BUY if d >= 0 else SELL for d in dollars]
    # One PolyCollection instead of ax.bar: a decade is 120+ bars, and per-patch limit updates cost ~80 ms.
    half = 12.0  # days
    boxes = [
        ((xi - half, 0.0), (xi - half, d), (xi + half, d), (xi + half, 0.0))
        for xi, d in zip(x, dollars, strict=True)
    ]
    ax.add_collection(PolyCollection(boxes, facecolors=colours, edgecolors="none", alpha=0.9, zorder=2),
                      autolim=False)
    lo, hi = min(0.0, float(dollars.min())), max(0.0, float(dollars.max()))
    span = (hi - lo) or 1.0
    ax.set_ylim(lo - 0.18 * span * (lo < 0), hi + 0.18 * span * (hi > 0) + (span if hi == lo == 0 else 0))
    if len(flow) <= 8:  # few bars: print the amounts, they are the point of the panel
        for xi, d in zip(x, dollars, strict=True):
            ax.annotate(format_dollars(d, signed=True), (xi, d), xytext=(0, 4 if d >= 0 else -4),
                        textcoords="offset points", ha="center", va="bottom" if d >= 0 else "top",
                        color=TEXT, fontsize=NOTE_PT)


def _footnote(
    points: list[TradePoint], splits: SplitTable | None, ticker: str | None, line: PriceSeries | None
) -> list[str]:
    parts = ["Marker area \u221d $ value"] if any(p.price is not None for p in points) else []
    if splits is not None and ticker and any(p.split_factor != 1.0 for p in points):
        first = min(p.day for p in points)
        later = ", ".join(f"{s.day:%Y-%m-%d} {s.ratio:g}:1" for s in splits.splits_after(ticker, first))
        parts.append(f"Form 4 prices adjusted for splits ({later})")
    from_close = sum(1 for p in points if p.price_source == "close")
    if from_close:
        parts.append(f"{from_close} without price shown at the close")
    off = sum(1 for p in points if p.price is None)
    if off and line is not None:
        parts.append(f"{off} without price or close not shown")
    if line is not None and line.first_day and line.last_day:
        if any(p.day > line.last_day for p in points):
            parts.append(f"Prices end {line.last_day:%Y-%m-%d}")
        if any(p.day < line.first_day for p in points):
            parts.append(f"Prices start {line.first_day:%Y-%m-%d}")
    return parts


def _wrap(parts: list[str], width: int) -> str:
    """Join footnote parts with dots, breaking lines between parts (never inside one)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 5 + len(part) <= width:
            lines[-1] += "  \u00b7  " + part
        else:
            lines.append(part)
    return "\n".join(lines)
