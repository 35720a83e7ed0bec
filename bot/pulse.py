"""The market pulse: each week, how many dollars insiders sold on the open market for every dollar they bought.

Market-wide, from ``flow_days`` (code S and P, non-derivative), by transaction date, counting only filings
accepted by ``as_of``. Weeks run Monday to Sunday. Sales usually outweigh purchases many times over (grants
are sold, purchases are rare), so the ratio is read against its own recent median rather than against 1.
A week without purchases has no ratio (None), not an infinite one. The latest week is partial, and the one
before fills in for two more business days as Form 4s arrive.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import statistics
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from bot.render.chart import (
    BG,
    BUY,
    LINE,
    MUTED,
    NOTE_PT,
    SELL,
    SPINE,
    TEXT,
    TITLE_PT,
    _date_axis,
    _note,
    _style_axes,
    format_dollars,
)
from bot.render.reply import Chart, Reply, ReplyField, Table, as_of_line, money
from bot.store.db import Store
from bot.store.prices import MarketFlow, WeekFlowRow

log = logging.getLogger(__name__)

MAX_WEEKS = 104
TABLE_WEEKS = 12


@dataclass(frozen=True, slots=True)
class PulseWeek:
    start: date  # Monday
    end: date  # Sunday, or the as-of day for the current week
    sell_cents: int
    buy_cents: int
    sellers: int  # filer groups
    buyers: int
    partial: bool

    @property
    def ratio(self) -> float | None:
        """Dollars sold per dollar bought; None without purchases."""
        return self.sell_cents / self.buy_cents if self.buy_cents > 0 else None


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def pulse_weeks(rows: Sequence[WeekFlowRow], first_monday: date, last_day: date) -> list[PulseWeek]:
    """One ``PulseWeek`` per calendar week from ``first_monday`` to the week holding ``last_day``, empty
    weeks included (a quiet week is a zero, not a gap)."""
    by_week: dict[tuple[date, str], WeekFlowRow] = {(r.week_start, r.code): r for r in rows}
    weeks: list[PulseWeek] = []
    monday = first_monday
    while monday <= last_day:
        sunday = monday + timedelta(days=6)
        sell, buy = by_week.get((monday, "S")), by_week.get((monday, "P"))
        weeks.append(PulseWeek(
            start=monday,
            end=min(sunday, last_day),
            sell_cents=sell.value_cents if sell else 0,
            buy_cents=buy.value_cents if buy else 0,
            sellers=sell.filers if sell else 0,
            buyers=buy.filers if buy else 0,
            partial=last_day < sunday,
        ))
        monday += timedelta(days=7)
    return weeks


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    if ratio >= 100:
        return f"{ratio:,.0f}×"
    return f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


async def market_pulse(
    store: Store,
    *,
    weeks: int = 12,
    as_of: datetime | None = None,
    executor: Executor | None = None,
    chart: bool = True,
) -> Reply:
    """The weekly sales-to-purchases ratio over the last ``weeks`` weeks, with a chart.

    ``executor``: render the chart there (the bot's process pool); without one it renders in-process.
    """
    weeks = max(1, min(int(weeks), MAX_WEEKS))
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)  # the store's times are UTC; a naive as-of means UTC too
    now = as_of or datetime.now(UTC)
    last_day = now.astimezone(UTC).date()
    first_monday = monday_of(last_day) - timedelta(weeks=weeks - 1)
    rows = await MarketFlow(store).weekly(first_monday, last_day, as_of=as_of)
    series = pulse_weeks(rows, first_monday, last_day)
    newest = await store.trades.newest_acceptance()
    if as_of is not None and newest is not None:
        newest = min(newest, as_of)
    reply = Reply(
        title=f"Market pulse: insider sales vs purchases, last {weeks} week{'s' if weeks > 1 else ''}",
        as_of=as_of_line(newest),
    )
    reply.data = {
        "as_of": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "weeks": [
            {
                "week_start": w.start.isoformat(), "week_end": w.end.isoformat(),
                "sell_value": w.sell_cents / 100, "buy_value": w.buy_cents / 100, "ratio": w.ratio,
                "sellers": w.sellers, "buyers": w.buyers, "partial": w.partial,
            }
            for w in series
        ],
    }
    if not any(w.sell_cents or w.buy_cents for w in series):
        reply.description = (f"No open-market insider purchases or sales with a price from {first_monday} "
                             f"to {last_day} in the stored filings.")
        return reply

    full = [w for w in series if not w.partial]
    # The headline is the newest complete week with any flow (the current week is still filling in).
    latest = next((w for w in reversed(full) if w.sell_cents or w.buy_cents), series[-1])
    ratios = [w.ratio for w in full if w.ratio is not None]
    median = statistics.median(ratios) if ratios else None
    sold, bought = sum(w.sell_cents for w in series), sum(w.buy_cents for w in series)
    reply.tone = "sell" if latest.ratio is None or (median is not None and latest.ratio > median) else "buy"
    reply.description = (
        f"**Week of {latest.start}: insiders sold {ratio_text(latest.ratio)} what they bought** "
        f"({money(latest.sell_cents)} sold, {money(latest.buy_cents)} bought)."
        if latest.ratio is not None else
        f"**Week of {latest.start}: {money(latest.sell_cents)} sold and no open-market purchases.**"
    )
    if median is not None and latest.ratio is not None and len(ratios) >= 4:
        side = "above" if latest.ratio > median else "below" if latest.ratio < median else "at"
        reply.description += f" That is {side} the {len(ratios)}-week median of {ratio_text(median)}."
    reply.fields = [
        ReplyField(f"Median ratio ({len(ratios)} full week{'' if len(ratios) == 1 else 's'} with purchases)",
                   ratio_text(median)),
        ReplyField(f"Total, {len(series)} weeks",
                   f"{money(sold)} sold · {money(bought)} bought · {ratio_text(sold / bought if bought else None)}"),
    ]
    current = series[-1]
    if current.partial:
        reply.fields.append(ReplyField(
            f"This week so far (to {current.end})",
            f"{money(current.sell_cents)} sold · {money(current.buy_cents)} bought · {ratio_text(current.ratio)}",
        ))
    shown = list(reversed(series))[:TABLE_WEEKS]
    reply.table = Table(
        columns=("Week of", "Sold", "Bought", "Ratio"),
        rows=tuple((f"{w.start:%Y-%m-%d}{'*' if w.partial else ''}", money(w.sell_cents), money(w.buy_cents),
                    ratio_text(w.ratio)) for w in shown),
        align=("<", ">", ">", ">"),
        title="Open-market sales and purchases (code S and P), newest first",
    )
    reply.notes.append(
        "By transaction date; filings accepted by the as-of time. Form 4s arrive up to two business days "
        "after the trade, so the latest weeks still fill in." + (" * = week in progress." if current.partial
                                                                  else "")
    )
    if chart:
        footnote = (f"Open-market sales ÷ purchases (Form 4 code S and P), by transaction date, filings "
                    f"accepted by {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        title = f"Insider selling vs buying, weekly, {series[0].start:%d %b %Y} – {last_day:%d %b %Y}"
        if executor is not None:
            loop = asyncio.get_running_loop()
            png = await loop.run_in_executor(executor, render_pulse_chart, series, title, footnote)
        else:
            png = render_pulse_chart(series, title, footnote)
        reply.chart = Chart(png, "market_pulse.png")
    return reply


# ----------------------------------------------------------------------------------------------------------
# Chart

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 7.5, 100


def _ratio_label(v: float, _pos: object = None) -> str:
    return f"{v:.3g}×"


def render_pulse_chart(weeks: Sequence[PulseWeek], title: str, footnote: str = "") -> bytes:
    """PNG bytes (1200x750): the weekly ratio on a log axis over weekly dollars sold (up) and bought (down)."""
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=BG)
    FigureCanvasAgg(fig)
    left, right = 0.10, 0.975
    fig.text(left, 0.955, title, color=TEXT, fontsize=TITLE_PT - 4, fontweight="bold", ha="left", va="center")
    if footnote:
        fig.text(left, 0.015, footnote, color=MUTED, fontsize=NOTE_PT - 1, ha="left", va="bottom")
    gs = fig.add_gridspec(2, 1, height_ratios=(1.5, 1.0), hspace=0.2, left=left, right=right, top=0.82,
                          bottom=0.11)
    ax_ratio = fig.add_subplot(gs[0])
    ax_flow = fig.add_subplot(gs[1], sharex=ax_ratio)
    _style_axes(ax_ratio)
    _style_axes(ax_flow)
    if not weeks:
        _note(ax_ratio, "no weeks")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", facecolor=BG)
        return buf.getvalue()

    mid = np.array([mdates.date2num(w.start + timedelta(days=3)) for w in weeks])  # bar centre mid-week
    ratios = np.array([w.ratio if w.ratio is not None and w.ratio > 0 else np.nan for w in weeks], dtype=float)
    partial = np.array([w.partial for w in weeks])
    finite = ratios[np.isfinite(ratios)]

    # Ratio panel.
    ax_ratio.set_title("Dollars sold per dollar bought", loc="left", color=MUTED,
                       fontsize=NOTE_PT + 1, pad=8)
    ax_flow.set_title("Dollars sold (up) and bought (down)", loc="left", color=MUTED, fontsize=NOTE_PT + 1,
                      pad=8)
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        log_axis = hi / lo > 4  # a wide range (0.3x .. 40x) needs a log axis; a narrow one reads better linear
        if log_axis:
            ax_ratio.set_yscale("log")
            span = math.log10(hi) - math.log10(lo)
            ax_ratio.set_ylim(10 ** (math.log10(lo) - 0.12 * span), 10 ** (math.log10(hi) + 0.2 * span))
            decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            ax_ratio.yaxis.set_major_locator(FixedLocator([m * 10.0**d for d in decades for m in (1, 2, 5)]))
        else:
            pad = max((hi - lo) * 0.2, hi * 0.05)
            ax_ratio.set_ylim(max(0.0, lo - pad), hi + pad * 1.3)
            ax_ratio.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax_ratio.yaxis.set_minor_locator(NullLocator())
        ax_ratio.yaxis.set_major_formatter(FuncFormatter(_ratio_label))
        y_lo, y_hi = ax_ratio.get_ylim()
        if y_lo < 1.0 < y_hi:  # sales = purchases, when it is in view
            ax_ratio.axhline(1.0, color=SPINE, linewidth=1.2, zorder=1)
        ax_ratio.plot(mid, ratios, color=LINE, linewidth=2.0, zorder=2)
        done = ~partial & np.isfinite(ratios)
        dot = 42 if len(weeks) <= 30 else 16  # two years of weeks: smaller dots keep the line readable
        ax_ratio.scatter(mid[done], ratios[done], s=dot, color=LINE, zorder=3)
        now = partial & np.isfinite(ratios)
        ax_ratio.scatter(mid[now], ratios[now], s=60, facecolors=BG, edgecolors=LINE, linewidths=1.8, zorder=3)
        full = [w.ratio for w in weeks if not w.partial and w.ratio is not None]
        if full:
            med = float(np.median(full))
            ax_ratio.axhline(med, color=MUTED, linestyle="--", linewidth=1.2, zorder=1)
            ax_ratio.annotate(f"median {ratio_text(med)}", (0.0, med), xycoords=("axes fraction", "data"),
                              xytext=(4, 4), textcoords="offset points", ha="left", va="bottom", color=MUTED,
                              fontsize=NOTE_PT, zorder=5,
                              bbox={"boxstyle": "round,pad=0.2", "fc": BG, "ec": "none", "alpha": 0.85})
        last = next((i for i in range(len(weeks) - 1, -1, -1) if done[i]), None)
        if last is not None:
            ax_ratio.annotate(ratio_text(float(ratios[last])), (mid[last], ratios[last]), xytext=(0, 10),
                              textcoords="offset points", ha="center", va="bottom", color=TEXT,
                              fontsize=NOTE_PT + 1, fontweight="bold")
        no_buys = np.array([w.ratio is None and w.sell_cents > 0 for w in weeks])
        if no_buys.any():
            ax_ratio.scatter(mid[no_buys], np.full(int(no_buys.sum()), y_hi), marker="^", s=70, color=SELL,
                             clip_on=False, zorder=4)
    else:
        ax_ratio.set_yticks([])
        _note(ax_ratio, "no open-market purchases in these weeks: no ratio" if not any(w.buy_cents for w in weeks)
              else "no week had both sales and purchases")
    ax_ratio.tick_params(labelbottom=False)

    # Dollars panel: sales up, purchases down.
    sells = np.array([w.sell_cents / 100 for w in weeks], dtype=float)
    buys = np.array([w.buy_cents / 100 for w in weeks], dtype=float)
    width = 5.0  # days
    # One bar call per side with per-bar RGBA: the week in progress is drawn faded.
    ax_flow.bar(mid, sells, width=width, zorder=2,
                color=[to_rgba(SELL, 0.45 if p else 0.9) for p in partial])
    ax_flow.bar(mid, -buys, width=width, zorder=2,
                color=[to_rgba(BUY, 0.45 if p else 0.9) for p in partial])
    ax_flow.axhline(0, color=SPINE, linewidth=1.0, zorder=1)
    up, down = float(sells.max()), float(buys.max())
    scale = max(up, down, 1.0)
    # Each side gets its own room: purchases are often a tenth of sales, and an empty side only a sliver.
    ax_flow.set_ylim(-max(down * 1.12, scale * 0.08), max(up * 1.12, scale * 0.08))
    ax_flow.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax_flow.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_dollars(abs(v))))
    handles = [
        Line2D([], [], marker="s", linestyle="", color=SELL, markersize=12, label="Sold"),
        Line2D([], [], marker="s", linestyle="", color=BUY, markersize=12, label="Bought"),
    ]
    if partial.any():
        handles.append(Line2D([], [], marker="o", linestyle="", color=LINE, markerfacecolor=BG, markersize=9,
                              label="Week in progress (faded bars)"))
    if finite.size and any(w.ratio is None and w.sell_cents > 0 for w in weeks):
        handles.append(Line2D([], [], marker="^", linestyle="", color=SELL, markersize=10,
                              label="No purchases that week"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(left - 0.01, 0.895), ncol=len(handles),
               frameon=False, fontsize=NOTE_PT, labelcolor=TEXT, handletextpad=0.4, columnspacing=1.4)
    _date_axis(ax_flow, weeks[0].start - timedelta(days=2), weeks[-1].start + timedelta(days=9))

    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor=BG, pil_kwargs={"compress_level": 3})
    return buf.getvalue()
