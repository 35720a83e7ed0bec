"""Insider flow of one issuer: pure functions over stored rows.

The unit of a trade is a *trade day*: one filer group x issuer x trading day x side, over all rows and
filings of that day (EDGAR caps a Form 4 at 30 rows, so a sale wave is split across filings).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from bot import rules
from bot.analysis.rows import FilerGroup, HoldingRow, IssuerHistory, TradeRow

_CLASS_CUT = re.compile(r"[,(;]")
_NOT_LETTERS = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=4096)
def security_class(title: str) -> str:
    """'Common Stock, $0.001 par value' and 'Common stock' are one class; 'Class A Common Stock' another."""
    head = _CLASS_CUT.split(title.lower(), 1)[0]
    return _NOT_LETTERS.sub("", head.replace("par value", "")) or "security"


@lru_cache(maxsize=8192)
def _line(security: str, direct_indirect: str | None, nature: str | None) -> tuple[str, str, str]:
    return (security_class(security), (direct_indirect or "D").upper(), " ".join((nature or "").lower().split()))


@dataclass(frozen=True, slots=True)
class TradeDay:
    group_key: str
    day: date
    side: str  # rules.BUY or rules.SELL
    shares: float
    value_cents: int  # sum over rows with a price
    unpriced_rows: int
    rows: int
    accessions: tuple[str, ...]
    plan: bool | None  # True: every row under a plan; False: none; None: unknown or mixed
    plan_adoption_date: date | None
    sell_to_cover: bool
    private_from_issuer: bool
    late: bool | None
    delta_own: float | None  # shares sold (or bought) that day over the holding just before

    @property
    def average_price(self) -> float | None:
        priced = self.shares if self.unpriced_rows == 0 else None
        return self.value_cents / 100 / priced if priced else None


@dataclass(frozen=True, slots=True)
class InsiderFlow:
    group: FilerGroup
    buy_cents: int
    sell_cents: int
    buy_shares: float
    sell_shares: float
    plan_sell_cents: int
    max_delta_own: float | None
    late_days: int
    last_day: date | None
    days: tuple[TradeDay, ...]

    @property
    def net_cents(self) -> int:
        return self.buy_cents - self.sell_cents


@dataclass(frozen=True, slots=True)
class OtherCode:
    code: str
    meaning: str
    rows: int
    shares: float


@dataclass(frozen=True)
class IssuerFlow:
    history: IssuerHistory
    since: date | None
    until: date | None
    buy_cents: int
    sell_cents: int
    buy_shares: float
    sell_shares: float
    buyers: int
    sellers: int
    plan_sell_cents: int
    unknown_plan_sell_cents: int
    late_days: int
    insiders: tuple[InsiderFlow, ...]
    largest: tuple[TradeDay, ...]
    other_codes: tuple[OtherCode, ...]
    derivative_rows: int
    rows: tuple[TradeRow, ...]  # every row in the period, for listings and JSON
    days: tuple[TradeDay, ...] = ()  # every open-market trade day in the period
    monthly_net_cents: dict[str, int] = field(default_factory=dict)

    @property
    def net_cents(self) -> int:
        return self.buy_cents - self.sell_cents


def trade_days(history: IssuerHistory) -> list[TradeDay]:
    """Every open-market trade day of the issuer's history, with ΔOwn measured across all its filings.

    Memoised on the history object (the store caches histories until its data changes)."""
    cached = history.derived.get("trade_days")
    if cached is None:
        cached = history.derived["trade_days"] = _trade_days(history)
    return cached


def _trade_days(history: IssuerHistory) -> list[TradeDay]:
    by_key: dict[tuple[str, date, str], list[TradeRow]] = defaultdict(list)
    for row in history.rows:
        side = rules.flow_side(row.code, row.is_derivative)
        if side and row.transaction_date:
            by_key[(row.group_key, row.transaction_date, side)].append(row)
    deltas = delta_own_by_day(history)
    out = []
    for (group, day, side), rows in by_key.items():
        priced = [r for r in rows if r.value_cents is not None]
        plans = {r.plan_flag for r in rows}
        late_flags = [r.late for r in rows]
        out.append(
            TradeDay(
                group_key=group,
                day=day,
                side=side,
                shares=sum(r.shares or 0.0 for r in rows),
                value_cents=sum(r.value_cents or 0 for r in priced),
                unpriced_rows=len(rows) - len(priced),
                rows=len(rows),
                accessions=tuple(dict.fromkeys(r.accession for r in rows)),
                plan=plans.pop() if len(plans) == 1 else None,
                plan_adoption_date=next((r.plan_adoption_date for r in rows if r.plan_adoption_date), None),
                sell_to_cover=all(r.sell_to_cover for r in rows),
                private_from_issuer=any(r.private_from_issuer for r in rows),
                late=True if any(late_flags) else (None if None in late_flags else False),
                delta_own=deltas.get((group, day, side)),
            )
        )
    out.sort(key=lambda d: (d.day, d.group_key, d.side))
    return out


def delta_own_by_day(history: IssuerHistory) -> dict[tuple[str, date, str], float]:
    """ΔOwn per filer group, trading day and side.

    Shares sold (bought) that day over all shares of that class the group held, directly and indirectly,
    just before the first sale (purchase) of the day. Lines not traded that day count at their last known
    size (from earlier rows or holdings reports, including a holding reported on the same day's filing).
    """
    rows_by_group: dict[str, list[TradeRow]] = defaultdict(list)
    for r in history.rows:
        if not r.is_derivative and r.transaction_date:
            rows_by_group[r.group_key].append(r)
    holdings_by_group: dict[str, list[HoldingRow]] = defaultdict(list)
    for h in history.holdings:
        if h.period_of_report:
            holdings_by_group[h.group_key].append(h)
    out: dict[tuple[str, date, str], float] = {}
    for group, rows in rows_by_group.items():
        days: dict[date, list[TradeRow]] = defaultdict(list)
        for r in rows:
            days[r.transaction_date].append(r)  # type: ignore[index]
        holdings = sorted(holdings_by_group.get(group, []), key=lambda h: h.period_of_report)  # type: ignore[arg-type,return-value]
        state: dict[tuple[str, str, str], float] = {}
        h_index = 0
        for day in sorted(days):
            while h_index < len(holdings) and holdings[h_index].period_of_report < day:  # type: ignore[operator]
                h = holdings[h_index]
                if h.shares_owned is not None:
                    state[_line(h.security_title, h.direct_indirect, h.ownership_nature)] = h.shares_owned
                h_index += 1
            day_rows = days[day]
            traded_lines = {_line(r.security_title, r.direct_indirect, r.ownership_nature) for r in day_rows}
            same_day = dict(state)
            for h in holdings[h_index:]:
                if h.period_of_report != day:
                    break
                line = _line(h.security_title, h.direct_indirect, h.ownership_nature)
                if line not in traded_lines and h.shares_owned is not None:
                    same_day[line] = h.shares_owned
            for side, code in ((rules.SELL, "S"), (rules.BUY, "P")):
                ratio = _day_ratio(day_rows, same_day, code)
                if ratio is not None:
                    out[(group, day, side)] = ratio
            for r in day_rows:
                if r.shares_owned_after is not None:
                    state[_line(r.security_title, r.direct_indirect, r.ownership_nature)] = r.shares_owned_after
    return out


def _before(row: TradeRow) -> float | None:
    """The line's size just before this row, from the size after it."""
    if row.shares_owned_after is None or row.shares is None:
        return None
    if row.acquired_disposed == "D":
        return row.shares_owned_after + row.shares
    return row.shares_owned_after - row.shares


def _day_ratio(day_rows: list[TradeRow], known: dict[tuple[str, str, str], float], code: str) -> float | None:
    first = next((i for i, r in enumerate(day_rows) if r.code == code), None)
    if first is None:
        return None
    row_lines = [_line(r.security_title, r.direct_indirect, r.ownership_nature) for r in day_rows]
    cls = row_lines[first][0]
    traded = sum(r.shares or 0.0 for r, ln in zip(day_rows, row_lines) if r.code == code and ln[0] == cls)
    lines = {k: v for k, v in known.items() if k[0] == cls}
    # Rows before the first trade of this side (an option exercise, say) move their line first.
    moved_before = set(row_lines[:first])
    for r, line in zip(day_rows[:first], row_lines[:first]):
        if r.shares_owned_after is not None:
            lines[line] = r.shares_owned_after
    seen_after: set[tuple[str, str, str]] = set()
    for r, line in zip(day_rows[first:], row_lines[first:]):
        if line[0] != cls or line in seen_after or line in moved_before:
            continue
        seen_after.add(line)
        before = _before(r)
        if before is not None:
            lines[line] = before
    holding = sum(v for v in lines.values() if v > 0)
    if holding <= 0:
        return None
    return traded / holding


def issuer_flow(history: IssuerHistory, since: date | None = None, until: date | None = None) -> IssuerFlow:
    """Totals, insiders and largest trade days of an issuer over a period of transaction dates."""

    def in_period(d: date | None) -> bool:
        return d is not None and (since is None or d >= since) and (until is None or d <= until)

    days = [d for d in trade_days(history) if in_period(d.day)]
    period_rows = tuple(r for r in history.rows if in_period(r.transaction_date))
    buys = [d for d in days if d.side == rules.BUY]
    sells = [d for d in days if d.side == rules.SELL]
    per_group: dict[str, list[TradeDay]] = defaultdict(list)
    for d in days:
        per_group[d.group_key].append(d)
    insiders = []
    for key, group_days in per_group.items():
        group = history.groups.get(key) or FilerGroup(key, (key,), tuple(int(c) for c in key.split(",") if c))
        b = [d for d in group_days if d.side == rules.BUY]
        s = [d for d in group_days if d.side == rules.SELL]
        deltas = [d.delta_own for d in group_days if d.delta_own is not None]
        insiders.append(
            InsiderFlow(
                group=group,
                buy_cents=sum(d.value_cents for d in b),
                sell_cents=sum(d.value_cents for d in s),
                buy_shares=sum(d.shares for d in b),
                sell_shares=sum(d.shares for d in s),
                plan_sell_cents=sum(d.value_cents for d in s if d.plan),
                max_delta_own=max(deltas) if deltas else None,
                late_days=sum(1 for d in group_days if d.late),
                last_day=max(d.day for d in group_days),
                days=tuple(group_days),
            )
        )
    insiders.sort(key=lambda i: -(i.buy_cents + i.sell_cents))
    other: dict[str, list[TradeRow]] = defaultdict(list)
    for r in period_rows:
        if not r.is_derivative and rules.flow_side(r.code, False) is None:
            other[r.code].append(r)
    monthly: dict[str, int] = defaultdict(int)
    for d in days:
        monthly[d.day.strftime("%Y-%m")] += d.value_cents if d.side == rules.BUY else -d.value_cents
    return IssuerFlow(
        history=history,
        since=since,
        until=until,
        buy_cents=sum(d.value_cents for d in buys),
        sell_cents=sum(d.value_cents for d in sells),
        buy_shares=sum(d.shares for d in buys),
        sell_shares=sum(d.shares for d in sells),
        buyers=len({d.group_key for d in buys}),
        sellers=len({d.group_key for d in sells}),
        plan_sell_cents=sum(d.value_cents for d in sells if d.plan),
        unknown_plan_sell_cents=sum(d.value_cents for d in sells if d.plan is None),
        late_days=sum(1 for d in days if d.late),
        insiders=tuple(insiders),
        largest=tuple(sorted(days, key=lambda d: -d.value_cents)[:10]),
        other_codes=tuple(
            OtherCode(code, rules.code_meaning(code), len(rows), sum(r.shares or 0.0 for r in rows))
            for code, rows in sorted(other.items(), key=lambda kv: -len(kv[1]))
        ),
        derivative_rows=sum(1 for r in period_rows if r.is_derivative),
        rows=period_rows,
        days=tuple(days),
        monthly_net_cents=dict(sorted(monthly.items())),
    )
