"""Stock returns around insider trades: pure functions on ``PriceSeries`` (no I/O).

Basis: every return here is a ratio of two closes of one series, so it is the same on any split basis as
long as the series is coherent. Form 4 prices are never used: they are as reported on the trade date, and
dividing a pre-split Form 4 price into a post-split close (AAPL 2020-08-28: $499 reported, $115 a month
later on the 4:1 basis) would read as a 77% fall. ``adjust_for_splits`` repairs a series that turns out to
hold raw (unadjusted) closes across a known split, so the ratios stay honest.

Missing data is None, never 0: a horizon that has not passed yet, a close the vendor lacks, a series that
does not reach back to the start of a period.
"""

from __future__ import annotations

import calendar
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from bot.prices import PriceSeries, Split

log = logging.getLogger(__name__)

# A trade day's close: the same day, else the nearest session within this many days (a Saturday vesting, a
# holiday, a series that begins on the Monday after a Friday trade).
ANCHOR_GAP_DAYS = 4
# The close at a horizon may sit this far before the target date (weekend plus a holiday).
HORIZON_GAP_DAYS = 4
# A period return needs closes within this many days of both ends; more means the data does not cover it.
COVER_SLACK_DAYS = 6
HORIZONS_MONTHS: tuple[int, ...] = (1, 6)


def add_months(day: date, months: int) -> date:
    """The same day-of-month ``months`` later, clamped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Anchor:
    day: date
    close: float


def anchor_close(series: PriceSeries, day: date, max_gap_days: int = ANCHOR_GAP_DAYS) -> Anchor | None:
    """The close a trade is measured from: the trade day's, else the previous session's, else the next's."""
    found = series.close_on_or_before(day, max_gap_days) or series.close_on_or_after(day, max_gap_days)
    if found is None or found[1] <= 0:
        return None
    return Anchor(found[0], found[1])


def horizon_return(series: PriceSeries, anchor: Anchor, target: date) -> float | None:
    """Close at ``target`` (or the last session before it) over the anchor close, minus one.

    None when the series ends before the target (the horizon has not passed, or the vendor lacks it).
    """
    # The series must reach the target day itself, or the Friday before a weekend target: a series that
    # stops short gives no return rather than a return over a shorter horizon.
    needed = target - timedelta(days=max(0, target.weekday() - 4))
    if series.last_day is None or series.last_day < needed:
        return None
    found = series.close_on_or_before(target, HORIZON_GAP_DAYS)
    if found is None or found[0] <= anchor.day:
        return None
    return found[1] / anchor.close - 1.0


@dataclass(frozen=True, slots=True)
class AfterTrade:
    """How the stock did after one trade day, close to close."""

    day: date
    anchor: Anchor | None
    returns: dict[int, float | None]  # months -> return

    def get(self, months: int) -> float | None:
        return self.returns.get(months)


def after_trade(series: PriceSeries | None, day: date,
                horizons: Sequence[int] = HORIZONS_MONTHS) -> AfterTrade:
    if series is None or not len(series):
        return AfterTrade(day, None, {m: None for m in horizons})
    anchor = anchor_close(series, day)
    if anchor is None:
        return AfterTrade(day, None, {m: None for m in horizons})
    return AfterTrade(day, anchor, {m: horizon_return(series, anchor, add_months(day, m)) for m in horizons})


def return_over(series: PriceSeries | None, start: date, end: date,
                slack_days: int = COVER_SLACK_DAYS) -> float | None:
    """Return from the first close on/after ``start`` to the last on/before ``end``.

    None unless the series has closes within ``slack_days`` of both ends: a stock listed mid-period, or a
    file that stops early, gives no return rather than a return over a shorter period.
    """
    if series is None or not len(series):
        return None
    first = series.close_on_or_after(start, slack_days)
    last = series.close_on_or_before(end, slack_days)
    if first is None or last is None or last[0] < first[0] or first[1] <= 0:
        return None
    return last[1] / first[1] - 1.0


def adjust_for_splits(series: PriceSeries, splits: Iterable[Split], tolerance: float = 0.25) -> PriceSeries:
    """Bring closes before a split onto the post-split basis when the series turns out to be raw there.

    A raw series drops by about the split ratio overnight (4:1 -> the close falls to ~1/4); an adjusted one
    does not. Only a drop within ``tolerance`` of the ratio counts, so a real 75% crash on a split day of an
    adjusted series would have to coincide with the split to be misread.
    """
    closes = series.closes
    changed = False
    for split in sorted(splits, key=lambda s: s.day):
        if split.ratio <= 0 or abs(split.ratio - 1.0) < 0.05:
            continue
        before = series.close_on_or_before(split.day - timedelta(days=1), 7)
        after = series.close_on_or_after(split.day, 7)
        if before is None or after is None:
            continue
        observed = before[1] / after[1]
        if abs(observed / split.ratio - 1.0) <= tolerance:
            if not changed:
                closes = closes.copy()
                changed = True
            mask = closes.index < pd.Timestamp(split.day)
            closes.loc[mask] = closes.loc[mask] / split.ratio
            log.info("%s: closes before %s were raw; divided by %g", series.ticker, split.day, split.ratio)
    if not changed:
        return series
    return PriceSeries(series.ticker, closes, series.source + " (split-adjusted here)")


@dataclass(frozen=True, slots=True)
class ReturnSummary:
    count: int
    median: float | None
    up: int  # how many were positive

    @property
    def down(self) -> int:
        return self.count - self.up


def summarize(values: Iterable[float | None]) -> ReturnSummary:
    known = [v for v in values if v is not None]
    return ReturnSummary(len(known), statistics.median(known) if known else None, sum(1 for v in known if v > 0))


# ----------------------------------------------------------------------------------------------------------
# Sale waves


@dataclass(frozen=True, slots=True)
class SaleWave:
    """Open-market sales of one issuer on days no more than ``gap_days`` apart, all sellers together."""

    start: date
    end: date
    value_cents: int
    sellers: int
    days: int


def sale_waves(days: Iterable[tuple[date, str, int]], gap_days: int = 14) -> list[SaleWave]:
    """Group (day, filer group, cents) sales into waves, in date order."""
    ordered = sorted(days)
    waves: list[SaleWave] = []
    current: list[tuple[date, str, int]] = []

    def close_wave() -> None:
        if current:
            waves.append(SaleWave(
                start=current[0][0],
                end=current[-1][0],
                value_cents=sum(c for _, _, c in current),
                sellers=len({g for _, g, _ in current}),
                days=len({d for d, _, _ in current}),
            ))

    for item in ordered:
        if current and (item[0] - current[-1][0]).days > gap_days:
            close_wave()
            current = []
        current.append(item)
    close_wave()
    return waves
