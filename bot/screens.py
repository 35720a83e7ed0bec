"""Screens: /latest (the firehose), /screen (an OpenInsider-style screener) and /clusters.

Options come in as text and numbers, become validated filter objects (``LineFilter``, ``ClusterFilter``:
a bad value or an impossible combination raises ``ScreenError`` with a sentence for the user), and each
report turns a filter into a transport-neutral ``Reply``: a table, links to the filings, notes, and
``reply.data`` rows for ``--json``. All SQL is in ``bot.store.screens``.

Numbers follow the rest of insiderflow: a *line* is one filing's rows of one code on one trade date; value is
in integer cents and a line without a price has none (never $0); ΔOwn is the trade day's
(``bot.analysis.flow``), computed for the issuers on the page only; roles come from each filing's owners
(``rules.roles_of``); a joint filing is one insider (filer group); the filing delay is in business days
(``rules.filing_delay_business_days``), from the deemed execution date when given.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import rules
from bot.analysis.flow import delta_own_by_day
from bot.periods import PeriodError, parse_day, parse_period
from bot.render.reply import (
    Link,
    Reply,
    ReplyField,
    Table,
    as_of_line,
    error_reply,
    filing_url,
    money,
    percent,
)
from bot.store.screens import (
    OPEN_MARKET,
    ClusterMember,
    CompanyRow,
    Line,
    LineDetail,
    Owner,
    screens_of,
)
from bot.store.trades import as_of_text

if TYPE_CHECKING:
    from rich.console import Console

    from bot.prices import LocalPrices
    from bot.store.db import Store

LATEST_PAGE = 8  # eight filing links fit one embed field (1024 characters)
SCREEN_PAGE = 8
COMPANY_PAGE = 10
CLUSTER_PAGE = 5
ROLES = ("CEO", "CFO", "President", "Chair", "Director", "Officer", "10% owner")
SIDES = {"purchases": ("P",), "sales": ("S",), "both": OPEN_MARKET}
PLANS = ("plan", "no plan", "unknown")
CODES = tuple(c for c in rules.CODE_MEANINGS if c != "V")  # V is a flag, not a transaction code
RELATIVE = ("1w", "1m", "3m", "6m", "1y", "2y", "5y", "ytd")
# A ΔOwn filter needs each candidate insider's history at the issuer: at most this many per answer.
DELTA_OWN_GROUPS = 2_000
EXPORT_ROWS = 100_000
DELTA_OWN_CAPPED = (f"ΔOwn was checked for the first {DELTA_OWN_GROUPS:,} insiders only (it needs each one's "
                    "history): narrow the other filters to reach the rest.")
CSV_MARGIN = 2_048
# When a screen matches nothing, the queries finding what to widen must end by this long after the screen
# started (its answer stays within 100 ms); what was not checked is still named.
HINT_SECONDS = 0.08  # bytes kept free under the attachment limit for the multipart envelope


class ScreenError(ValueError):
    """A bad option or combination; the message is for the user and says what to do."""


def _today() -> date:
    return datetime.now(UTC).date()


# ------------------------------------------------------------------------------------------------ filters


def _check_range(name: str, low: float | None, high: float | None, show) -> None:  # type: ignore[no-untyped-def]
    for value in (low, high):
        if value is not None and value < 0:
            raise ScreenError(f"The {name} can't be negative ({show(value)}).")
    if low is not None and high is not None and low > high:
        raise ScreenError(f"The minimum {name} ({show(low)}) is above the maximum ({show(high)}): swap them.")


def _check_window(name: str, since: date | None, until: date | None, today: date) -> None:
    if since is not None and since > today:
        raise ScreenError(f"The {name} window starts in the future ({since}); today is {today}.")
    if since is not None and until is not None and since > until:
        raise ScreenError(f"The {name} window starts ({since}) after it ends ({until}).")


@dataclass(frozen=True)
class LineFilter:
    """What /latest and /screen select: filing lines, by these conditions (all of them). Validated on creation.

    Windows are inclusive dates: ``filed_*`` on EDGAR's filing date, ``traded_*`` on the transaction date.
    Money in cents, ΔOwn as a ratio (0.05 = 5%), delays in business days."""

    codes: tuple[str, ...] = OPEN_MARKET
    derivatives: bool = False
    filed_since: date | None = None
    filed_until: date | None = None
    traded_since: date | None = None
    traded_until: date | None = None
    min_value_cents: int | None = None
    max_value_cents: int | None = None
    min_price: float | None = None
    max_price: float | None = None
    min_delta_own: float | None = None
    max_delta_own: float | None = None
    min_delay: int | None = None
    max_delay: int | None = None
    roles: tuple[str, ...] = ()
    plan: str | None = None
    issuer_ciks: tuple[int, ...] | None = None
    group_by_company: bool = False
    min_insiders: int = 1
    as_of: datetime | None = None
    today: date = field(default_factory=_today)

    def __post_init__(self) -> None:
        if not self.codes:
            raise ScreenError("Pick at least one transaction code (P purchase, S sale, A grant, ...).")
        for code in self.codes:
            if code not in CODES:
                raise ScreenError(f"'{code[:5]}' is not a Form 4 transaction code: use {', '.join(CODES)}.")
        _check_range("value", self.min_value_cents, self.max_value_cents, lambda v: money(int(v)))
        _check_range("price", self.min_price, self.max_price, lambda v: f"${v:,.2f}")
        _check_range("ΔOwn", self.min_delta_own, self.max_delta_own, percent)
        _check_range("filing delay", self.min_delay, self.max_delay, lambda v: f"{v} business days")
        _check_window("filing-date", self.filed_since, self.filed_until, self.today)
        _check_window("trade-date", self.traded_since, self.traded_until, self.today)
        if (self.traded_since and self.filed_until and self.traded_since > self.filed_until):
            raise ScreenError(f"Nothing traded from {self.traded_since} can be filed by {self.filed_until}: "
                              "a Form 4 is filed after the trade.")
        for role in self.roles:
            if role not in ROLES:
                raise ScreenError(f"Unknown role '{role[:20]}': use {', '.join(ROLES)}.")
        if self.plan is not None and self.plan not in PLANS:
            raise ScreenError(f"Unknown plan choice '{self.plan[:20]}': use {', '.join(PLANS)}.")
        if self.has_delta_own and not (set(self.codes) & set(OPEN_MARKET)):
            raise ScreenError("ΔOwn is measured on open-market purchases and sales only: add code P or S.")
        if self.min_insiders < 1:
            raise ScreenError("The minimum number of insiders is at least 1.")
        if self.min_insiders > 1 and not self.group_by_company:
            raise ScreenError("A minimum number of insiders applies when grouping by company: turn that on too.")

    @property
    def has_delta_own(self) -> bool:
        return self.min_delta_own is not None or self.max_delta_own is not None

    def delta_own_ok(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min_delta_own is None or value >= self.min_delta_own - 1e-12) and (
            self.max_delta_own is None or value <= self.max_delta_own + 1e-12)

    def conditions(self) -> list[tuple[str, LineFilter]]:
        """Each active condition in words, with this filter without it (for 'widen ...' hints)."""
        out: list[tuple[str, LineFilter]] = []

        def add(label: str, **changes: Any) -> None:
            out.append((label, replace(self, **changes)))

        if self.codes != OPEN_MARKET:
            add(f"codes {', '.join(self.codes)}", codes=OPEN_MARKET, min_delta_own=None, max_delta_own=None)
        if self.filed_since or self.filed_until:
            add(f"filed {_window_text(self.filed_since, self.filed_until)}", filed_since=None, filed_until=None)
        if self.traded_since or self.traded_until:
            add(f"traded {_window_text(self.traded_since, self.traded_until)}", traded_since=None,
                traded_until=None)
        if self.min_value_cents is not None or self.max_value_cents is not None:
            add(f"value {_range_text(self.min_value_cents, self.max_value_cents, lambda v: money(int(v)))}",
                min_value_cents=None, max_value_cents=None)
        if self.min_price is not None or self.max_price is not None:
            add(f"price {_range_text(self.min_price, self.max_price, lambda v: f'${v:,.2f}')}", min_price=None,
                max_price=None)
        if self.has_delta_own:
            add(f"ΔOwn {_range_text(self.min_delta_own, self.max_delta_own, percent)}", min_delta_own=None,
                max_delta_own=None)
        if self.min_delay is not None or self.max_delay is not None:
            add(f"filing delay {_range_text(self.min_delay, self.max_delay, str)} business days", min_delay=None,
                max_delay=None)
        if self.roles:
            add(f"role {' or '.join(self.roles)}", roles=())
        if self.plan:
            add(f"10b5-1 plan: {self.plan}", plan=None)
        if self.issuer_ciks is not None:
            add("this server's watchlist only", issuer_ciks=None)
        if self.derivatives:
            add("with derivative rows", derivatives=False)
        if self.group_by_company and self.min_insiders > 1:
            add(f"at least {self.min_insiders} insiders per company", min_insiders=1)
        return out


@dataclass(frozen=True)
class ClusterFilter:
    """Issuers where at least ``min_insiders`` filer groups bought (or sold) within ``days`` days.

    ``since``/``until`` bound the clusters' trade dates (None: all stored history)."""

    side: str = "purchases"
    days: int = 14
    min_insiders: int = 2
    since: date | None = None
    until: date | None = None
    issuer_ciks: tuple[int, ...] | None = None
    as_of: datetime | None = None
    today: date = field(default_factory=_today)

    def __post_init__(self) -> None:
        if self.side not in ("purchases", "sales"):
            raise ScreenError(f"Unknown side '{self.side[:20]}': use purchases or sales.")
        if not 1 <= self.days <= 366:
            raise ScreenError(f"The cluster window is 1 to 366 days, not {self.days}.")
        if not 2 <= self.min_insiders <= 100:
            raise ScreenError(f"A cluster needs 2 to 100 insiders, not {self.min_insiders}.")
        _check_window("trade-date", self.since, self.until, self.today)

    @property
    def code(self) -> str:
        return "P" if self.side == "purchases" else "S"

    def widenings(self) -> list[tuple[str, ClusterFilter]]:
        out = []
        if self.days < 366:
            wider = min(366, self.days * 2)
            out.append((f"days {wider}", replace(self, days=wider)))
        if self.min_insiders > 2:
            out.append((f"min_insiders {self.min_insiders - 1}", replace(self, min_insiders=self.min_insiders - 1)))
        if self.since or self.until:
            out.append(("all history", replace(self, since=None, until=None)))
        if self.issuer_ciks is not None:
            out.append(("everything stored (not just the watchlist)", replace(self, issuer_ciks=None)))
        other = "sales" if self.side == "purchases" else "purchases"
        out.append((f"side {other}", replace(self, side=other)))
        return out


def _window_text(since: date | None, until: date | None) -> str:
    if since and until:
        return f"{since}..{until}"
    return f"since {since}" if since else f"until {until}"


def _range_text(low: Any, high: Any, show) -> str:  # type: ignore[no-untyped-def]
    if low is not None and high is not None:
        return f"{show(low)}–{show(high)}"
    return f"≥ {show(low)}" if low is not None else f"≤ {show(high)}"


# ------------------------------------------------------------------------------------- parsing user input


def parse_date(name: str, text: str | None, today: date, *, start: bool) -> date | None:
    """A window bound: YYYY-MM-DD, 'today', 'all' (no bound), or for a start 1w/1m/3m/6m/1y/2y/5y/ytd."""
    if text is None or not text.strip() or text.strip().lower() in ("all", "any"):
        return None
    key = text.strip().lower()
    if key == "today":
        return today
    if start and key in RELATIVE:
        return parse_period(key, today).since
    try:
        return parse_day(key)
    except PeriodError:
        relative = ", 1m, 1y, ytd" if start else ", today"
        raise ScreenError(f"{name}: '{text[:20]}' is not a date. Use YYYY-MM-DD{relative} or all.") from None


def parse_codes(text: str | None) -> tuple[str, ...] | None:
    """'P,S', 'p s' or 'PS' to ('P', 'S'); None when not given."""
    if text is None or not text.strip():
        return None
    raw = text.replace(",", " ").replace(";", " ").split()
    letters = [c for part in raw for c in (part if len(part) <= 4 and part.isalpha() else [part])]
    codes = tuple(dict.fromkeys(c.upper() for c in letters))
    for code in codes:
        if code not in CODES:
            raise ScreenError(f"'{code[:5]}' is not a Form 4 transaction code: use {', '.join(CODES)}.")
    return codes


def parse_role(text: str | None) -> tuple[str, ...]:
    if text is None or not text.strip():
        return ()
    key = text.strip().lower().replace("-", " ").replace("_", " ")
    aliases = {"10%": "10% owner", "10 pct": "10% owner", "10pct": "10% owner", "ten percent owner": "10% owner",
               "chairman": "Chair", "pres": "President"}
    for role in ROLES:
        aliases[role.lower()] = role
    if key not in aliases:
        raise ScreenError(f"Unknown role '{text[:20]}': use {', '.join(ROLES)}.")
    return (aliases[key],)


def parse_plan(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    key = text.strip().lower().replace("-", " ").replace("_", " ")
    key = {"10b5 1": "plan", "yes": "plan", "no": "no plan", "none": "no plan"}.get(key, key)
    if key not in PLANS:
        raise ScreenError(f"Unknown plan choice '{text[:20]}': use {', '.join(PLANS)}.")
    return key


def _cents(name: str, dollars: float | None) -> int | None:
    if dollars is None:
        return None
    if dollars < 0:
        raise ScreenError(f"The {name} can't be negative.")
    return round(dollars * 100)


def _ratio(name: str, pct: float | None) -> float | None:
    if pct is None:
        return None
    if not 0 <= pct <= 100:
        raise ScreenError(f"The {name} is a percentage from 0 to 100, not {pct:g}.")
    return pct / 100


def latest_filter(
    *,
    side: str | None = None,
    min_value: float | None = None,
    role: str | None = None,
    code: str | None = None,
    plan: str | None = None,
    issuer_ciks: Iterable[int] | None = None,
    as_of: datetime | None = None,
    today: date | None = None,
) -> LineFilter:
    """/latest's options: side (purchases, sales, both), minimum value in dollars, role, code, plan, scope."""
    codes = parse_codes(code)
    if side is not None and side not in SIDES:
        raise ScreenError(f"Unknown side '{side[:20]}': use purchases, sales or both.")
    if codes and side and side != "both" and set(codes) != set(SIDES[side]):
        raise ScreenError(f"Side {side} means code {SIDES[side][0]}; code {', '.join(codes)} contradicts it. "
                          "Use one of the two.")
    return LineFilter(
        codes=codes or SIDES[side or "both"],
        min_value_cents=_cents("minimum value", min_value),
        roles=parse_role(role),
        plan=parse_plan(plan),
        issuer_ciks=tuple(issuer_ciks) if issuer_ciks is not None else None,
        as_of=as_of,
        today=today or _today(),
    )


def screen_filter(
    *,
    filed_since: str | None = None,
    filed_until: str | None = None,
    traded_since: str | None = None,
    traded_until: str | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    min_delta_own: float | None = None,
    max_delta_own: float | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    role: str | None = None,
    codes: str | None = None,
    min_delay: int | None = None,
    max_delay: int | None = None,
    derivatives: bool = False,
    group_by_company: bool = False,
    min_insiders: int | None = None,
    plan: str | None = None,
    issuer_ciks: Iterable[int] | None = None,
    as_of: datetime | None = None,
    today: date | None = None,
) -> LineFilter:
    """/screen's options as users type them (dates as text, dollars, percents) to a validated filter."""
    day = today or _today()
    return LineFilter(
        codes=parse_codes(codes) or OPEN_MARKET,
        derivatives=derivatives,
        filed_since=parse_date("filed_since", filed_since, day, start=True),
        filed_until=parse_date("filed_until", filed_until, day, start=False),
        traded_since=parse_date("traded_since", traded_since, day, start=True),
        traded_until=parse_date("traded_until", traded_until, day, start=False),
        min_value_cents=_cents("minimum value", min_value),
        max_value_cents=_cents("maximum value", max_value),
        min_price=min_price,
        max_price=max_price,
        min_delta_own=_ratio("minimum ΔOwn", min_delta_own),
        max_delta_own=_ratio("maximum ΔOwn", max_delta_own),
        min_delay=min_delay,
        max_delay=max_delay,
        roles=parse_role(role),
        plan=parse_plan(plan),
        issuer_ciks=tuple(issuer_ciks) if issuer_ciks is not None else None,
        group_by_company=group_by_company,
        min_insiders=min_insiders if min_insiders is not None else (2 if group_by_company else 1),
        as_of=as_of,
        today=day,
    )


def cluster_filter(
    *,
    side: str | None = None,
    days: int | None = None,
    min_insiders: int | None = None,
    since: str | None = None,
    until: str | None = None,
    issuer_ciks: Iterable[int] | None = None,
    as_of: datetime | None = None,
    today: date | None = None,
) -> ClusterFilter:
    day = today or _today()
    return ClusterFilter(
        side=side or "purchases",
        days=14 if days is None else days,
        min_insiders=2 if min_insiders is None else min_insiders,
        since=parse_date("since", since, day, start=True),
        until=parse_date("until", until, day, start=False),
        issuer_ciks=tuple(issuer_ciks) if issuer_ciks is not None else None,
        as_of=as_of,
        today=day,
    )


# ---------------------------------------------------------------------------------------- matching lines


@dataclass(frozen=True)
class Matches:
    lines: tuple[Line, ...]
    delta_own: dict[tuple, float | None]  # by Line.key, for the lines whose ΔOwn was computed
    capped: bool  # a ΔOwn filter stopped after DELTA_OWN_GROUPS insider histories


class _DeltaOwn:
    """ΔOwn of lines (bot.analysis.flow's, per filer group and trade day), read per (issuer, group) in batches:
    ΔOwn depends only on that group's own rows and holdings, so a page never reads a whole issuer."""

    def __init__(self, store: Store, as_of: datetime | None) -> None:
        self.screens = screens_of(store)
        self.as_of = as_of
        self.days: dict[tuple[int, str], dict[tuple[date, str], float]] = {}

    async def load(self, lines: Iterable[Line]) -> None:
        pairs = {(ln.issuer_cik, ln.group_key) for ln in lines
                 if rules.flow_side(ln.code, ln.is_derivative)} - set(self.days)
        for pair, history in (await self.screens.group_histories(pairs, self.as_of)).items():
            self.days[pair] = {(day, side): v for (_, day, side), v in delta_own_by_day(history).items()}

    def of(self, line: Line) -> float | None:
        side = rules.flow_side(line.code, line.is_derivative)
        if side is None or line.transaction_date is None:
            return None
        return self.days.get((line.issuer_cik, line.group_key), {}).get((line.transaction_date, side))


async def matching_lines(store: Store, f: LineFilter, *, order: str, count: int,
                         max_groups: int = DELTA_OWN_GROUPS) -> Matches:
    """The first ``count`` lines matching ``f`` in ``order`` ('filed' or 'traded').

    SQL applies every condition but ΔOwn, which needs each insider's history at the issuer: with a ΔOwn
    range the candidates are checked in order, exactly, until enough pass or ``max_groups`` insider-issuer
    histories were read."""
    screens = screens_of(store)
    if not f.has_delta_own:
        lines = await screens.first_lines(f, order=order, count=count)
        return Matches(tuple(lines), {}, False)
    deltas = _DeltaOwn(store, f.as_of)
    passed: list[Line] = []
    values: dict[tuple, float | None] = {}
    # Candidates are fetched in growing batches (from the start: the slices are cheap to re-read).
    checked, batch = 0, min(count * 4 + 40, 2_000)
    while True:
        candidates = await screens.first_lines(f, order=order, count=batch)
        fresh = candidates[checked:]
        for i in range(0, len(fresh), 64):
            if len(deltas.days) >= max_groups:
                return Matches(tuple(passed), values, True)
            chunk = fresh[i : i + 64]
            await deltas.load(chunk)
            for line in chunk:
                value = values[line.key] = deltas.of(line)
                if f.delta_own_ok(value):
                    passed.append(line)
                    if len(passed) >= count:
                        return Matches(tuple(passed), values, False)
        if len(candidates) < batch:
            return Matches(tuple(passed), values, False)
        checked, batch = len(candidates), batch * 4


async def matching_companies(store: Store, f: LineFilter, *, count: int, offset: int = 0) -> tuple[list[CompanyRow], bool]:
    """Issuers with at least ``f.min_insiders`` insiders among the matching lines; (rows, capped)."""
    if not f.has_delta_own:
        return await screens_of(store).companies(f, min_insiders=f.min_insiders, count=count, offset=offset), False
    # ΔOwn is per line and known only from the issuers' histories: group the checked lines here.
    found = await matching_lines(store, f, order="traded", count=EXPORT_ROWS)
    groups: dict[int, list[Line]] = defaultdict(list)
    for line in found.lines:
        groups[line.issuer_cik].append(line)
    rows = []
    for cik, lines in groups.items():
        insiders = len({ln.group_key for ln in lines})
        if insiders < f.min_insiders:
            continue
        valued = [ln.value_cents for ln in lines if ln.value_cents is not None]
        dated = [ln.transaction_date for ln in lines if ln.transaction_date]
        rows.append(CompanyRow(
            issuer_cik=cik, ticker=lines[0].ticker, issuer_name=lines[0].issuer_name, insiders=insiders,
            lines=len(lines),
            buy_cents=sum(ln.value_cents or 0 for ln in lines if ln.code == "P" and not ln.is_derivative),
            sell_cents=sum(ln.value_cents or 0 for ln in lines if ln.code == "S" and not ln.is_derivative),
            value_cents=sum(valued) if valued else None, first_day=min(dated) if dated else None,
            last_day=max(dated) if dated else None,
        ))
    rows.sort(key=lambda r: (r.last_day or date.min, r.value_cents or 0, r.issuer_cik), reverse=True)
    return rows[offset : offset + count], found.capped


# ------------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class LineView:
    """A line with what the page shows of it."""

    line: Line
    detail: LineDetail | None
    owners: tuple[Owner, ...]
    delta_own: float | None

    @property
    def insider(self) -> str:
        if not self.owners:
            return self.line.group_key
        first = self.owners[0].name
        return first if len(self.owners) == 1 else f"{first} (+{len(self.owners) - 1} joint filers)"

    @property
    def roles(self) -> tuple[str, ...]:
        out: list[str] = []
        for owner in self.owners:
            out.extend(r for r in owner.roles if r not in out)
        return tuple(out)

    @property
    def delay(self) -> int | None:
        start = self.detail.start if self.detail else self.line.transaction_date
        reported = self.line.date_of_original_submission or self.line.filed_date
        if start is None or reported is None:
            return None
        return rules.filing_delay_business_days(start, reported)

    def json(self) -> dict[str, Any]:
        line, detail, delay = self.line, self.detail, self.delay
        return {
            "accession": line.accession,
            "url": filing_url(line.issuer_cik, line.accession),
            "document_type": line.document_type,
            "filed_date": line.filed_date.isoformat() if line.filed_date else None,
            "filed_at": line.accepted_at.strftime("%Y-%m-%dT%H:%M:%SZ") if line.accepted_at else None,
            "transaction_date": line.transaction_date.isoformat() if line.transaction_date else None,
            "issuer_cik": line.issuer_cik,
            "ticker": line.ticker,
            "issuer_name": line.issuer_name,
            "owner_ciks": [o.cik for o in self.owners],
            "owner_name": self.insider,
            "roles": list(self.roles),
            "code": line.code,
            "code_meaning": rules.code_meaning(line.code),
            "is_derivative": line.is_derivative,
            "counts_as": rules.flow_side(line.code, line.is_derivative),
            "rows": detail.rows if detail else None,
            "shares": line.shares,
            "value": None if line.value_cents is None else line.value_cents / 100,
            "average_price": detail.average_price if detail else None,
            "shares_owned_after": detail.shares_owned_after if detail else None,
            "delta_own": self.delta_own,
            "plan_10b5_1": detail.plan if detail else None,
            "sell_to_cover": detail.sell_to_cover if detail else None,
            "private_from_issuer": detail.private_from_issuer if detail else None,
            "filing_delay_business_days": delay,
            "late_filing": None if delay is None else delay > rules.LATE_AFTER_BUSINESS_DAYS,
        }


async def line_views(store: Store, lines: Iterable[Line], *, as_of: datetime | None,
                     known_delta: dict[tuple, float | None] | None = None, with_delta: bool = True) -> list[LineView]:
    """Owners, details and ΔOwn for the given lines (a page: each insider's history at an issuer is read once)."""
    lines = list(lines)
    screens = screens_of(store)
    owners = await screens.owners(line.accession for line in lines)
    details = await screens.details(lines)
    deltas = _DeltaOwn(store, as_of)
    if with_delta:
        await deltas.load(ln for ln in lines if known_delta is None or ln.key not in known_delta)
    out = []
    for line in lines:
        if known_delta is not None and line.key in known_delta:
            value = known_delta[line.key]
        else:
            value = deltas.of(line) if with_delta else None
        out.append(LineView(line, details.get(line.key), owners.get(line.accession, ()), value))
    return out


_ROLE_SHORT = {"Director": "Dir", "10% owner": "10%", "President": "Pres", "Officer": "Off", "Other": "Oth"}


def _role_short(roles: tuple[str, ...]) -> str:
    if not roles:
        return "-"
    return _ROLE_SHORT.get(roles[0], roles[0])[:5]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _code_cell(line: Line) -> str:
    return line.code + ("*" if line.is_derivative else "")


def _line_table(views: list[LineView], first: int, date_column: str) -> Table:
    rows = []
    for i, v in enumerate(views, first):
        day = v.line.filed_date if date_column == "Filed" else v.line.transaction_date
        rows.append((
            str(i),
            day.isoformat() if day else "n/a",
            _clip(v.line.ticker or str(v.line.issuer_cik), 6),
            _clip(v.owners[0].name if v.owners else v.line.group_key, 10) + ("+" if len(v.owners) > 1 else ""),
            _role_short(v.roles),
            _code_cell(v.line),
            money(v.line.value_cents),
            percent(v.delta_own),
        ))
    return Table(
        columns=("#", date_column, "Ticker", "Insider", "Role", "C", "Value", "ΔOwn"),
        rows=tuple(rows),
        align=(">", "<", "<", "<", "<", "<", ">", ">"),
    )


def _filing_links(views: list[LineView], first: int) -> list[Link]:
    """One link per filing on the page, labelled with its row numbers (short: eight fit one field)."""
    numbers: dict[str, list[int]] = defaultdict(list)
    sample: dict[str, LineView] = {}
    for i, v in enumerate(views, first):
        numbers[v.line.accession].append(i)
        sample.setdefault(v.line.accession, v)
    links = []
    for accession, rows in numbers.items():
        v = sample[accession]
        url = filing_url(v.line.issuer_cik, accession)
        if url:  # a bare XML known only by its content hash has no EDGAR page
            links.append(Link(f"#{','.join(map(str, rows))} {v.line.ticker or v.line.issuer_cik}", url))
    return links


def _filters_text(f: LineFilter) -> str:
    # The codes are said on their own line; the scope too.
    words = [label for label, _ in f.conditions()
             if not label.startswith("codes") and not label.startswith("this server")]
    return "; ".join(words) if words else "none"


async def _widen_hint(store: Store, f: LineFilter, started: float) -> str:
    """What to widen: the single conditions whose removal finds something, checked one by one.

    Dropping a date window can mean reading all history, so those are checked last, and the checks stop
    after HINT_SECONDS: what was not checked is named as such rather than guessed."""
    helpful, unchecked = [], []
    conditions = sorted(f.conditions()[:12], key=lambda c: c[0].startswith(("filed", "traded")))
    deadline = started + HINT_SECONDS
    # A check reads at least what the screen itself did, usually more (a condition less): start one only
    # if twice that (or the slowest check so far) still ends in time.
    cost = 2 * (time.monotonic() - started)
    for label, relaxed in conditions:
        began = time.monotonic()
        if began + cost > deadline:
            unchecked.append(label)
            continue
        if relaxed.group_by_company:
            found = bool((await matching_companies(store, relaxed, count=1))[0])
        else:
            found = bool((await matching_lines(store, relaxed, order="traded", count=1, max_groups=200)).lines)
        cost = max(cost, time.monotonic() - began)
        if found:
            helpful.append(label)
    if helpful:
        return "Dropping any one of these finds trades: " + "; ".join(helpful) + "." + (
            " Not checked: " + "; ".join(unchecked) + "." if unchecked else "")
    if unchecked:
        return "Try widening: " + "; ".join(unchecked) + "."
    first, last = await screens_of(store).data_span()
    span = f" The store holds open-market trades from {first} to {last}." if first else " The store is empty."
    return "No single change finds anything; widen several conditions." + span


def _code_label(f: LineFilter) -> str:
    if f.codes == ("P",):
        return "open-market purchases (code P)"
    if f.codes == ("S",):
        return "open-market sales (code S)"
    if set(f.codes) == set(OPEN_MARKET):
        return "open-market purchases and sales (code P, S)"
    return "codes " + ", ".join(f"{c} ({rules.code_meaning(c)})" for c in f.codes)


def _tone(f: LineFilter) -> str:
    return "buy" if f.codes == ("P",) else "sell" if f.codes == ("S",) else "neutral"


def _page_data(rows: list[dict], page: int, page_size: int, has_more: bool) -> dict[str, Any]:
    return {"rows": rows, "page": page + 1, "page_size": page_size, "has_more": has_more}


# ------------------------------------------------------------------------------------------------ reports


async def latest_report(store: Store, f: LineFilter, *, page: int = 0, page_size: int = LATEST_PAGE,
                        scope_label: str = "all stored issuers") -> Reply:
    """The firehose: the newest filing lines as EDGAR accepted them (filing date, then acceptance time)."""
    started = time.monotonic()
    offset = page * page_size
    found = await matching_lines(store, f, order="filed", count=offset + page_size + 1)
    shown = list(found.lines[offset : offset + page_size])
    has_more = len(found.lines) > offset + page_size
    newest = await store.trades.newest_acceptance()
    names: dict[tuple[str, ...], str] = {("P",): "purchases", ("S",): "sales"}
    what = names.get(f.codes, "purchases and sales")
    if not set(f.codes) <= set(OPEN_MARKET):
        what = "transactions"
    reply = Reply(title=f"Latest insider {what}", as_of=as_of_line(newest), tone=_tone(f))
    filters = _filters_text(f)
    reply.description = (f"Newest filings first (EDGAR filing date, then acceptance time), {scope_label}: "
                         f"{_code_label(f)}." + (f"\nFilters: {filters}." if filters != "none" else ""))
    if not shown:
        if page:
            reply.description += "\nNo more trades: this was the last page."
        else:
            reply.description += "\n**Nothing matches.** " + await _widen_hint(store, f, started)
        reply.data = _page_data([], page, page_size, False)
        return reply
    views = await line_views(store, shown, as_of=f.as_of)
    reply.table = _line_table(views, offset + 1, "Filed")
    reply.links = _filing_links(views, offset + 1)
    reply.notes.append(f"Page {page + 1}" + (" · more on the next page" if has_more else " · the last page")
                       + " · C: code (P purchase, S sale; * derivative) · ΔOwn: share of holding traded that day")
    if any(v.line.filed_date is None for v in views):
        reply.notes.append("Filings with no known filing date (bare XML files) are listed last.")
    reply.data = _page_data([v.json() for v in views], page, page_size, has_more)
    return reply


async def screen_report(store: Store, f: LineFilter, *, page: int = 0, page_size: int | None = None,
                        scope_label: str = "all stored issuers") -> Reply:
    """The screener: matching lines, newest trades first, or grouped by company."""
    started = time.monotonic()
    newest = await store.trades.newest_acceptance()
    reply = Reply(title="Insider screen", as_of=as_of_line(newest), tone=_tone(f))
    what = _code_label(f)
    reply.description = f"{what[0].upper()}{what[1:]}, {scope_label}.\nFilters: {_filters_text(f)}."
    if f.group_by_company:
        return await _company_page(store, f, reply, page, page_size or COMPANY_PAGE, started)
    size = page_size or SCREEN_PAGE
    offset = page * size
    found = await matching_lines(store, f, order="traded", count=offset + size + 1)
    shown = list(found.lines[offset : offset + size])
    has_more = len(found.lines) > offset + size
    if found.capped:
        reply.notes.append(DELTA_OWN_CAPPED)
    if not shown:
        if page:
            reply.description += "\nNo more trades: this was the last page."
        elif not found.capped:
            reply.description += "\n**Nothing matches.** " + await _widen_hint(store, f, started)
        reply.data = _page_data([], page, size, False)
        return reply
    views = await line_views(store, shown, as_of=f.as_of, known_delta=found.delta_own)
    reply.table = _line_table(views, offset + 1, "Traded")
    reply.links = _filing_links(views, offset + 1)
    reply.notes.insert(0, f"Page {page + 1}" + (" · more on the next page" if has_more else " · the last page")
                       + " · newest trades first · C: code (* derivative) · ΔOwn: share of holding traded that day")
    reply.data = _page_data([v.json() for v in views], page, size, has_more)
    return reply


def _company_json(r: CompanyRow) -> dict[str, Any]:
    return {
        "issuer_cik": r.issuer_cik, "ticker": r.ticker, "issuer_name": r.issuer_name, "insiders": r.insiders,
        "lines": r.lines, "buy_value": r.buy_cents / 100, "sell_value": r.sell_cents / 100,
        "value": None if r.value_cents is None else r.value_cents / 100,
        "first_transaction_date": r.first_day.isoformat() if r.first_day else None,
        "last_transaction_date": r.last_day.isoformat() if r.last_day else None,
    }


async def _company_page(store: Store, f: LineFilter, reply: Reply, page: int, size: int, started: float) -> Reply:
    rows, capped = await matching_companies(store, f, count=size + 1, offset=page * size)
    has_more = len(rows) > size
    rows = rows[:size]
    reply.title = "Insider screen by company"
    if capped:
        reply.notes.append(DELTA_OWN_CAPPED)
    if not rows:
        if page:
            reply.description += "\nNo more companies: this was the last page."
        elif not capped:
            reply.description += "\n**Nothing matches.** " + await _widen_hint(store, f, started)
        reply.data = _page_data([], page, size, False)
        return reply
    reply.table = Table(
        columns=("#", "Ticker", "Ins.", "Lines", "Bought", "Sold", "Last trade"),
        rows=tuple(
            (str(i), _clip(r.ticker or str(r.issuer_cik), 6), str(r.insiders), str(r.lines), money(r.buy_cents),
             money(r.sell_cents), r.last_day.isoformat() if r.last_day else "n/a")
            for i, r in enumerate(rows, page * size + 1)
        ),
        align=(">", "<", ">", ">", ">", ">", "<"),
    )
    reply.notes.insert(0, f"Page {page + 1}" + (" · more on the next page" if has_more else " · the last page")
                       + f" · Ins. = distinct insiders (a joint filing is one) · at least {f.min_insiders}")
    reply.data = _page_data([_company_json(r) for r in rows], page, size, has_more)
    return reply


# -- clusters


@dataclass(frozen=True)
class Move:
    ratio: float | None
    since: date
    to: date | None

    @property
    def text(self) -> str:
        if self.ratio is None:
            return "n/a"
        sign = "+" if self.ratio > 0 else ""
        return f"{sign}{self.ratio * 100:.1f}%"


async def stock_move(prices: LocalPrices | None, ticker: str | None, since: date, today: date) -> Move:
    """The close-to-close move from the trade day to the newest close on file (split-adjusted on both ends);
    n/a without a price file (never 0)."""
    if prices is None or not ticker:
        return Move(None, since, None)
    from bot.prices import period_return

    series = await asyncio.to_thread(prices.get, ticker, since=since)
    if series is None:
        return Move(None, since, None)
    last = series.close_on_or_before(today)
    start = series.close_on_or_before(since, max_gap_days=7)
    if last is None or start is None or last[0] <= start[0]:
        return Move(None, since, None)
    return Move(period_return(series, start[0], last[0]), since, last[0])


async def clusters_report(store: Store, c: ClusterFilter, *, prices: LocalPrices | None = None, page: int = 0,
                          page_size: int = CLUSTER_PAGE, scope_label: str = "all stored issuers") -> Reply:
    started = time.monotonic()
    screens = screens_of(store)
    offset = page * page_size
    heads = await screens.cluster_heads(c, count=offset + page_size + 1)
    has_more = len(heads) > offset + page_size
    heads = heads[offset : offset + page_size]
    verb = "bought" if c.side == "purchases" else "sold"
    newest = await store.trades.newest_acceptance()
    reply = Reply(
        title=f"Cluster {c.side}: {c.min_insiders}+ insiders {verb} within {c.days} days",
        as_of=as_of_line(newest), tone="buy" if c.side == "purchases" else "sell",
    )
    window = f" with trades {_window_text(c.since, c.until)}" if (c.since or c.until) else ""
    reply.description = (f"Issuers where at least {c.min_insiders} insiders (a joint filing is one) {verb} on the "
                         f"open market (code {c.code}) within {c.days} days{window}, {scope_label}; each with its "
                         "newest cluster, newest first." + (" Sell-to-cover sales don't count." if c.code == "S" else ""))
    if not heads:
        if page:
            reply.description += "\nNo more clusters: this was the last page."
        else:
            helpful, unchecked = [], []
            deadline = started + HINT_SECONDS
            cost = 2 * (time.monotonic() - started)
            for label, wider in c.widenings():
                began = time.monotonic()
                if began + cost > deadline:
                    unchecked.append(label)
                    continue
                if await screens.cluster_heads(wider, count=1):
                    helpful.append(label)
                cost = max(cost, time.monotonic() - began)
            if helpful:
                hint = "These would find some: " + "; ".join(helpful) + "."
            elif unchecked:
                hint = "Try: " + "; ".join(unchecked) + "."
            else:
                hint = "Nothing close either: fewer insiders, a longer window or the other side find none."
            reply.description += "\n**No clusters.** " + hint
        reply.data = _page_data([], page, page_size, False)
        return reply
    members = await screens.cluster_members(c, heads)
    by_issuer: dict[int, list[ClusterMember]] = defaultdict(list)
    for m in members:
        by_issuer[m.issuer_cik].append(m)
    table_rows, data_rows = [], []
    side = rules.BUY if c.code == "P" else rules.SELL
    for i, head in enumerate(heads, offset + 1):
        group = by_issuer.get(head.issuer_cik, [])
        groups = await store.trades.groups_for_issuer(head.issuer_cik, [m.group_key for m in group],
                                                     as_of_text(c.as_of))
        histories = await screens.group_histories([(head.issuer_cik, m.group_key) for m in group], c.as_of)
        first_day = head.end_day.toordinal() - c.days
        deltas: dict[str, float] = {}
        for (_, key), history in histories.items():
            for (_, day, day_side), value in delta_own_by_day(history).items():
                if day_side == side and first_day <= day.toordinal() <= head.end_day.toordinal():
                    deltas[key] = max(deltas.get(key, 0.0), value)
        move = await stock_move(prices, head.ticker, head.end_day, c.today)
        ticker = head.ticker or str(head.issuer_cik)
        end = f"{head.end_day:%m-%d}" if head.end_day.year == head.start_day.year else str(head.end_day)
        table_rows.append((str(i), _clip(ticker, 6), f"{head.start_day}→{end}", str(head.insiders),
                           money(head.value_cents), move.text))
        lines = []
        insiders_json = []
        for m in group:
            g = groups.get(m.group_key)
            name = g.display_name if g else m.group_key
            roles = list(g.roles) if g else []
            lines.append(f"{_clip(name, 34)} ({', '.join(roles[:2]) or 'insider'}) {verb} {money(m.value_cents)}"
                         f" · ΔOwn {percent(deltas.get(m.group_key))}")
            insiders_json.append({
                "group_key": m.group_key, "owner_ciks": list(g.owner_ciks) if g else [], "name": name,
                "roles": roles, "value": m.value_cents / 100, "shares": m.shares,
                "first_day": m.first_day.isoformat(), "last_day": m.last_day.isoformat(),
                "trade_days": m.trade_days, "delta_own": deltas.get(m.group_key),
                "accessions": list(m.accessions),
            })
        moved = f"{move.text} since {head.end_day}" + (f" (close of {move.to})" if move.to else " (no price on file)")
        reply.fields.append(ReplyField(
            f"#{i} {ticker} · {head.start_day} → {head.end_day}",
            "\n".join(lines[:6]) + (f"\n… and {len(lines) - 6} more" if len(lines) > 6 else "")
            + f"\nStock: {moved}",
            inline=False,
        ))
        data_rows.append({
            "issuer_cik": head.issuer_cik, "ticker": head.ticker, "issuer_name": head.issuer_name,
            "side": c.side, "start_day": head.start_day.isoformat(), "end_day": head.end_day.isoformat(),
            "insiders": head.insiders, "value": head.value_cents / 100, "members": insiders_json,
            "move_since": move.ratio, "move_to": move.to.isoformat() if move.to else None,
        })
    reply.table = Table(
        columns=("#", "Ticker", "Window", "Ins.", "Value", "Move"),
        rows=tuple(table_rows),
        align=(">", "<", "<", ">", ">", ">"),
    )
    reply.notes.append(f"Page {page + 1}" + (" · more on the next page" if has_more else " · the last page")
                       + " · Move: the stock's close-to-close change since the cluster's last trade day")
    reply.data = _page_data(data_rows, page, page_size, has_more)
    return reply


# -- CSV


@dataclass(frozen=True)
class CsvExport:
    filename: str
    data: bytes
    rows: int  # rows in the file
    matched: int  # rows that matched (at most EXPORT_ROWS are read)
    cut: bool
    note: str


LINE_CSV_COLUMNS = (
    "transaction_date", "filed_date", "filed_at", "ticker", "issuer_cik", "issuer_name", "owner_name", "owner_ciks",
    "roles", "code", "code_meaning", "is_derivative", "rows", "shares", "average_price", "value",
    "shares_owned_after", "delta_own", "plan_10b5_1", "sell_to_cover", "filing_delay_business_days", "late_filing",
    "document_type", "accession", "url",
)
COMPANY_CSV_COLUMNS = ("ticker", "issuer_cik", "issuer_name", "insiders", "lines", "buy_value", "sell_value",
                       "value", "first_transaction_date", "last_transaction_date")


def _csv_bytes(columns: tuple[str, ...], rows: list[dict[str, Any]], max_bytes: int | None) -> tuple[bytes, int]:
    """The CSV, whole rows only, within ``max_bytes``; (data, rows written)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    size = len(out.getvalue().encode())
    chunks = [out.getvalue()]
    written = 0
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
        text = out.getvalue()
        length = len(text.encode())
        if max_bytes is not None and size + length > max_bytes:
            break
        chunks.append(text)
        size += length
        written += 1
    return "".join(chunks).encode(), written


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if value is None:
        return ""
    return value


async def screen_csv(store: Store, f: LineFilter, *, max_bytes: int | None = None,
                     max_rows: int = EXPORT_ROWS) -> CsvExport:
    """Every matching row (up to ``max_rows``) as CSV, cut to ``max_bytes`` (Discord's attachment limit)."""
    budget = None if max_bytes is None else max(256, max_bytes - CSV_MARGIN)
    if f.group_by_company:
        companies, _ = await matching_companies(store, f, count=max_rows + 1)
        matched = len(companies)
        rows = [_company_json(r) for r in companies[:max_rows]]
        columns: tuple[str, ...] = COMPANY_CSV_COLUMNS
        name = "insider_screen_companies.csv"
    else:
        found = await matching_lines(store, f, order="traded", count=max_rows + 1)
        matched = len(found.lines)
        # ΔOwn needs each issuer's history: in the file only where the screen computed it (a ΔOwn filter).
        views = await line_views(store, found.lines[:max_rows], as_of=f.as_of, known_delta=found.delta_own,
                                 with_delta=False)
        rows = [v.json() for v in views]
        columns = LINE_CSV_COLUMNS
        name = "insider_screen.csv"
    data, written = await asyncio.to_thread(_csv_bytes, columns, rows, budget)
    cut = written < len(rows)
    more = matched > max_rows
    if cut:
        note = (f"The CSV is cut at {written:,} of {min(matched, max_rows):,}{'+' if more else ''} rows to fit "
                f"the {_size_text(max_bytes)} attachment limit here: narrow the screen, or use the CLI "
                "(`insiderflow screen … --csv file.csv`) for everything.")
    elif more:
        note = f"The CSV holds the first {max_rows:,} matching rows: narrow the screen for the rest."
    else:
        note = f"{written:,} row(s)."
    if not f.group_by_company and not f.has_delta_own:
        note += " ΔOwn is left out of the file (it needs each issuer's full history); the pages show it."
    return CsvExport(name, data, written, matched, cut, note)


def _size_text(size: int | None) -> str:
    if size is None:
        return "no"
    return f"{size / 1024 / 1024:.0f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


# ---------------------------------------------------------------------------------------------------- CLI


async def _scope(store: Store, tickers: str | None) -> tuple[tuple[int, ...] | None, str]:
    if not tickers:
        return None, "all stored issuers"
    from bot.store.issuers import UnknownTicker

    ciks = []
    for text in tickers.replace(",", " ").split():
        try:
            ciks.append((await store.issuers.resolve(text)).cik)
        except UnknownTicker as exc:
            raise ScreenError(str(exc)) from None
    return tuple(ciks), "tickers " + tickers.upper().replace(" ", "")


def _as_of_arg(text: str | None) -> datetime | None:
    from bot.cli import _as_of

    return _as_of(text)


async def _run(args: argparse.Namespace, console: Console, build) -> int:  # type: ignore[no-untyped-def]
    from bot.cli import _emit, _open_store

    if args.page < 1 or not 1 <= args.limit <= 500:
        return _emit(error_reply("--page starts at 1 and --limit is 1 to 500."), args, console)
    store = await _open_store(args)
    try:
        try:
            reply = await build(store)
        except ScreenError as exc:
            reply = error_reply(str(exc))
    finally:
        await store.close()
    return _emit(reply, args, console)


async def cmd_latest(args: argparse.Namespace, console: Console) -> int:
    async def build(store: Store) -> Reply:
        ciks, label = await _scope(store, args.tickers)
        f = latest_filter(side=args.side, min_value=args.min_value, role=args.role, code=args.code, plan=args.plan,
                          issuer_ciks=ciks, as_of=_as_of_arg(args.as_of))
        return await latest_report(store, f, page=args.page - 1, page_size=args.limit, scope_label=label)

    return await _run(args, console, build)


async def cmd_clusters(args: argparse.Namespace, console: Console) -> int:
    async def build(store: Store) -> Reply:
        from bot.charting import demo_prices_dir
        from bot.prices import LocalPrices
        from bot.settings import Settings

        ciks, label = await _scope(store, args.tickers)
        c = cluster_filter(side=args.side, days=args.days, min_insiders=args.min_insiders, since=args.since,
                           until=args.until, issuer_ciks=ciks, as_of=_as_of_arg(args.as_of))
        folder = Settings.load(env_file=getattr(args, "env_file", ".env")).prices_dir or demo_prices_dir()
        return await clusters_report(store, c, prices=LocalPrices(folder), page=args.page - 1,
                                     page_size=args.limit, scope_label=label)

    return await _run(args, console, build)


async def cmd_screen(args: argparse.Namespace, console: Console) -> int:
    async def build(store: Store) -> Reply:
        ciks, label = await _scope(store, args.tickers)
        f = screen_filter(
            filed_since=args.filed_since, filed_until=args.filed_until, traded_since=args.traded_since,
            traded_until=args.traded_until, min_value=args.min_value, max_value=args.max_value,
            min_delta_own=args.min_delta_own, max_delta_own=args.max_delta_own, min_price=args.min_price,
            max_price=args.max_price, role=args.role, codes=args.codes, min_delay=args.min_delay,
            max_delay=args.max_delay, derivatives=args.include_derivatives, group_by_company=args.group_by_company,
            min_insiders=args.min_insiders, plan=args.plan, issuer_ciks=ciks, as_of=_as_of_arg(args.as_of),
        )
        reply = await screen_report(store, f, page=args.page - 1, page_size=args.limit, scope_label=label)
        if args.csv and reply.tone != "error":
            export = await screen_csv(store, f)
            await asyncio.to_thread(Path(args.csv).write_bytes, export.data)
            reply.notes.append(f"CSV: {export.rows:,} row(s) written to {args.csv}. {export.note}")
        return reply

    return await _run(args, console, build)


def add_screen_commands(sub: Any) -> None:
    """Register `latest`, `clusters` and `screen` on the CLI's sub-parsers."""

    def common(p: argparse.ArgumentParser, limit: int) -> None:
        p.add_argument("--tickers", help="only these issuers, e.g. AAPL,TSLA (default: everything stored)")
        p.add_argument("--page", type=int, default=1, help="page number (default: 1)")
        p.add_argument("--limit", type=int, default=limit, help=f"rows per page (default: {limit})")
        p.add_argument("--as-of", help="only filings accepted by then (default: now)")
        p.add_argument("--json", action="store_true", help="print JSON instead of tables")
        p.add_argument("--out", default="out", help=argparse.SUPPRESS)

    roles = "CEO, CFO, President, Chair, director, officer or '10%% owner'"
    p = sub.add_parser("latest", help="the newest Form 4 transactions as they were filed (a firehose)")
    p.add_argument("--side", choices=tuple(SIDES), help="purchases, sales or both (default: both)")
    p.add_argument("--min-value", type=float, help="minimum value in dollars")
    p.add_argument("--role", help=roles)
    p.add_argument("--code", help="transaction code(s), e.g. P or A,M (default: P,S)")
    p.add_argument("--plan", choices=PLANS, help="10b5-1 plan: plan, 'no plan' or unknown")
    common(p, 25)
    p.set_defaults(func=cmd_latest)

    p = sub.add_parser("clusters", help="issuers where several insiders bought (or sold) within days")
    p.add_argument("--side", choices=("purchases", "sales"), default="purchases")
    p.add_argument("--days", type=int, default=14, help="the cluster's window in days (default: 14)")
    p.add_argument("--min-insiders", type=int, default=2, help="distinct insiders, joint filings once (default: 2)")
    p.add_argument("--since", help="clusters with trades from this date (YYYY-MM-DD, 1y, ...; default: all)")
    p.add_argument("--until", help="clusters with trades up to this date (YYYY-MM-DD)")
    common(p, 10)
    p.set_defaults(func=cmd_clusters)

    p = sub.add_parser("screen", help="an OpenInsider-style screener, paged or as CSV")
    p.add_argument("--filed-since", help="filing date from (YYYY-MM-DD, 1m, 1y, ytd)")
    p.add_argument("--filed-until", help="filing date up to (YYYY-MM-DD)")
    p.add_argument("--traded-since", help="trade date from (YYYY-MM-DD, 1m, 1y, ytd)")
    p.add_argument("--traded-until", help="trade date up to (YYYY-MM-DD)")
    p.add_argument("--min-value", type=float, help="dollars")
    p.add_argument("--max-value", type=float, help="dollars")
    p.add_argument("--min-delta-own", type=float, help="percent of the holding traded that day")
    p.add_argument("--max-delta-own", type=float, help="percent")
    p.add_argument("--min-price", type=float, help="average price per share, dollars")
    p.add_argument("--max-price", type=float)
    p.add_argument("--role", help=roles)
    p.add_argument("--codes", help="transaction codes, e.g. P,S (default) or A,M,F")
    p.add_argument("--min-delay", type=int, help="business days from trade to filing")
    p.add_argument("--max-delay", type=int)
    p.add_argument("--include-derivatives", action="store_true", help="include derivative-table rows")
    p.add_argument("--group-by-company", action="store_true", help="one row per issuer")
    p.add_argument("--min-insiders", type=int, help="with --group-by-company: distinct insiders (default 2)")
    p.add_argument("--plan", choices=PLANS)
    p.add_argument("--csv", help="also write every matching row to this CSV file")
    common(p, 25)
    p.set_defaults(func=cmd_screen)


__all__ = [
    "ClusterFilter", "CsvExport", "LineFilter", "ScreenError", "add_screen_commands", "cluster_filter",
    "clusters_report", "latest_filter", "latest_report", "screen_csv", "screen_filter", "screen_report",
]
