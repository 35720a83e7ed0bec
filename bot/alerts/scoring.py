"""When does an alert fire: the explainable unusual-trade scorer, pure (no SQL, no I/O, no clock).

The unit is a trade day (``bot.analysis.flow.TradeDay``): one filer group x issuer x trading day x side over
all its rows and filings. Each factor below becomes a named ``Reason`` with its weight and its numbers; its
sentence for humans (``Reason.text``) is written from those numbers when asked for, so that scoring a batch
of 10,000 days does not format 100,000 sentences nobody reads. The score is the sum of the weights and fires
when it reaches the server's sensitivity.

Gates come first and hold at every sensitivity: the dollar value must be reported and at least the server's
minimum, and purchases alert only where the server switched them on. Past the gates, "everything" fires on
any open-market trade day, "normal" on anything worth a look, "quiet" only on strong combinations.

In signal units: a plain signal (senior role, a large share of the holding, an unusually large day, a long
gap, an opportunistic pattern) is worth 1.5, normal needs one and quiet two. A market purchase starts at 2
(one signal and a bit). Pre-arranged sales (an established 10b5-1 plan, sell-to-cover) carry -6: nothing but
an extraordinary pile-up lifts them back. A late filing, a new plan and a size of 100x the server's minimum are
worth a third of a signal each.

Point in time: callers hand in what was public at the event's acceptance (``bot.store.baselines``); the
scorer only trims ``prior`` to the same group's earlier days and ``issuer_recent`` to the cluster window.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from bot import rules
from bot.analysis.flow import TradeDay
from bot.analysis.rows import FilerGroup
from bot.render.reply import money, percent

# ------------------------------------------------------------------------------------------ weights

# Purchases predict returns, sales on average do not (Lakonishok & Lee 2001; Jeng, Metrick & Zeckhauser
# 2003: ~40 bp/month on purchases, nothing on sales). A market purchase alone clears "normal".
PURCHASE = 2.0
# A placement or offering bought from the issuer: price and size were set with the company and usually
# announced with the deal, so the purchase says less than one made on the market. Cancels PURCHASE and then some.
FROM_ISSUER = -2.5
# CEO, CFO, President, Chair and 10% owners know the most and move the most (the issue's list).
SENIOR_ROLE = 1.5
SENIOR_ROLES = frozenset({"CEO", "CFO", "President", "Chair", "10% owner"})
# Scott & Xu 2004: only sales of a large share of the holding predict weak returns; small ones are liquidity.
LARGE_SHARE = 1.5
# A day far above the insider's own usual sale (robust z >= 3.5, Iglewicz & Hoaglin's cut for the modified
# z-score) is a decision of a different kind than their routine selling.
UNUSUAL_SIZE = 1.5
UNUSUAL_Z = 3.5
# The MAD of fewer days is mostly noise: one big day among small top-ups would read as a 30-sigma outlier.
MIN_BASELINE_DAYS = 5
BASELINE_YEARS = 3
# An insider who always sells the same amount has a MAD near 0; a floor of a quarter of the median keeps a day
# 10% larger than usual from reading as extreme (z >= 3.5 then needs about 1.9x the median).
MAD_FLOOR_SHARE = 0.25
MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution is 0.6745 sigma
# Breaking a long silence is a decision too: first sale (purchase) in a year or more of record.
LONG_GAP = 1.5
LONG_GAP_MONTHS = 12
# Cohen, Malloy & Pomorski 2012: opportunistic trades earned ~82 bp/month, routine ones about nothing.
OPPORTUNISTIC = 1.5
ROUTINE = -1.5
PATTERN_YEARS = 3
# A 10b5-1 plan pre-arranges the trade: usually uninformative. Outweighs every other signal but a pile-up.
PLAN = -6.0
# ...unless the plan is new: plans trading soon after adoption have been abused (Jagolinzer 2009; Larcker et
# al. 2021). The first sale within 90 days of the adoption date the footnote gives is treated as discretionary.
NEW_PLAN = 0.5
NEW_PLAN_DAYS = 90
# Shares sold to pay the tax on an exercise or a vesting: a sale, but not a view on the stock.
SELL_TO_COVER = -6.0
# Several insiders trading the same way within days carry more information (Alldredge & Blank 2019 on
# clustered purchases, hence the larger weight for purchases). Filer groups, not owners: a fund, its GP and
# its manager on one joint filing count once.
CLUSTER_SALE = 2.0
CLUSTER_PURCHASE = 3.0
CLUSTER_GROUPS = 3
CLUSTER_DAYS = 14
# Filing after the two-business-day deadline: either carelessness or a wish to be seen late. A small nudge.
LATE = 0.5
# Very large dollar amounts relative to what the server asked for: a small nudge, never a signal on its own.
HUGE_VS_MIN = 0.5
HUGE_MULTIPLE = 100

SENSITIVITIES = ("quiet", "normal", "everything")
THRESHOLDS: dict[str, float] = {
    "everything": -math.inf,  # past the gates, every open-market trade day
    "normal": 1.5,  # one signal (or a market purchase)
    "quiet": 3.0,  # two signals (or a market purchase with one, or a cluster of purchases)
}

# Gate keys: a decision that hit one never fires, whatever the sensitivity.
GATE_PURCHASES_OFF = "purchases_off"
GATE_UNPRICED = "unpriced"
GATE_BELOW_MIN = "below_min"


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class Policy:
    """A server's alert settings, as the scorer needs them."""

    sensitivity: str = "normal"
    min_value_cents: int = 100_000_000  # $1M, the guild_settings default
    purchases: bool = True
    large_delta_own: float = 0.20

    def __post_init__(self) -> None:
        if self.sensitivity not in THRESHOLDS:
            raise ValueError(f"unknown sensitivity {self.sensitivity!r}: use quiet, normal or everything")


@dataclass(frozen=True, slots=True)
class Reason:
    """One factor: a stable key ("size", "plan", "cluster", a gate such as "below_min"), what it adds to the
    score (0 for facts shown but not counted) and the numbers it rests on. ``text`` is written from them."""

    key: str
    weight: float
    numbers: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        """A short heading for a table or an embed field."""
        return _LABELS.get(self.key, self.key)

    @property
    def text(self) -> str:
        """One sentence for humans, with its numbers."""
        return _TEXTS[self.key](self.numbers)


@dataclass(frozen=True, slots=True)
class Decision:
    fire: bool
    score: float
    threshold: float
    reasons: tuple[Reason, ...]  # gates first, then by weight, largest effect first
    event: TradeDay
    sensitivity: str
    gate: str | None = None  # the gate that held it back, if any

    def reason(self, key: str) -> Reason | None:
        return next((r for r in self.reasons if r.key == key), None)

    @property
    def counted(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.weight)


class PastDay(Protocol):
    """What the scorer reads of an earlier trade day: a ``TradeDay`` or ``bot.store.baselines.PastTradeDay``."""

    @property
    def group_key(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def side(self) -> str: ...
    @property
    def value_cents(self) -> int: ...
    @property
    def unpriced_rows(self) -> int: ...
    @property
    def plan(self) -> bool | None: ...
    @property
    def plan_adoption_date(self) -> date | None: ...
    @property
    def sell_to_cover(self) -> bool: ...


class EventHistory(Protocol):
    """What the store knew at an event's acceptance (``bot.store.baselines.EventBaseline``)."""

    @property
    def prior(self) -> Sequence[PastDay]: ...
    @property
    def issuer_recent(self) -> Sequence[PastDay]: ...
    @property
    def history_start(self) -> date | None: ...
    @property
    def group_start(self) -> date | None: ...


# ------------------------------------------------------------------------------------------ scoring


def score_trade_day(
    event: TradeDay,
    *,
    prior: Iterable[PastDay],
    issuer_recent: Iterable[PastDay],
    group: FilerGroup,
    history_start: date | None,
    policy: Policy,
    group_start: date | None = None,
) -> Decision:
    """Score one trade day.

    ``prior``: the group's open-market trade days at this issuer known at the event's acceptance (days on or
    after the event day and other groups' days are ignored). ``issuer_recent``: every group's trade days at
    the issuer known then (only the same side within ``CLUSTER_DAYS`` up to the event day counts).
    ``history_start``: the issuer's first stored day, how far back the store's record goes ("history
    incomplete before ..."). ``group_start``: the group's first stored day at the issuer, so that "first sale
    on record" counts from when the insider's record starts, not from the issuer's.
    """
    reasons, gate = explain(
        event, prior=prior, issuer_recent=issuer_recent, group=group, history_start=history_start, policy=policy,
        group_start=group_start,
    )
    score = round(sum(r.weight for r in reasons), 6)
    threshold = THRESHOLDS[policy.sensitivity]
    return Decision(gate is None and score >= threshold, score, threshold, reasons, event, policy.sensitivity, gate)


def score_many(items: Iterable[tuple[TradeDay, FilerGroup, EventHistory]], policy: Policy) -> list[Decision]:
    """Score a batch: each event with its filer group and what ``Baselines.for_events`` returned for it."""
    with _paused_gc():
        return [
            score_trade_day(
                event,
                prior=history.prior,
                issuer_recent=history.issuer_recent,
                group=group,
                history_start=history.history_start,
                policy=policy,
                group_start=history.group_start,
            )
            for event, group, history in items
        ]


@contextmanager
def _paused_gc() -> Iterator[None]:
    """A batch allocates a dozen small objects per event, none in a reference cycle; left on, the cyclic
    collector walks every live object again and again and takes about 40% of the batch's time. Synchronous
    code only: nothing else runs on the event loop meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def explain(
    event: TradeDay,
    *,
    prior: Iterable[PastDay],
    issuer_recent: Iterable[PastDay],
    group: FilerGroup,
    history_start: date | None,
    policy: Policy,
    group_start: date | None = None,
) -> tuple[tuple[Reason, ...], str | None]:
    """Every reason for one trade day (gates first, then the largest effect first) and the gate, if any."""
    buy = event.side == rules.BUY
    own = [d for d in prior if d.day < event.day and d.group_key == event.group_key]
    same_side = sorted((d for d in own if d.side == event.side), key=_by_day)

    gates: list[Reason] = []
    if buy and not policy.purchases:
        gates.append(Reason(GATE_PURCHASES_OFF, 0.0))
    priced = event.rows > event.unpriced_rows
    if not priced:
        gates.append(Reason(GATE_UNPRICED, 0.0, {"rows": event.rows}))
    elif event.value_cents < policy.min_value_cents:
        gates.append(Reason(GATE_BELOW_MIN, 0.0, {"value_cents": event.value_cents, "min": policy.min_value_cents}))

    reasons = []
    if priced and event.value_cents >= policy.min_value_cents:
        reasons.append(_dollars(event, policy))
    if buy:
        reasons.append(Reason("purchase", PURCHASE))
        if event.private_from_issuer:
            reasons.append(Reason("from_issuer", FROM_ISSUER))
    reasons.append(_role(group))
    reasons.append(_delta_own(event, buy, policy))
    reasons.append(_size(event, same_side, history_start, buy))
    record = max(history_start, group_start) if history_start and group_start else history_start or group_start
    reasons.append(_gap(event, same_side, record, buy))
    reasons.append(_pattern(event, own, history_start))
    reasons.append(_plan(event, same_side))
    if event.sell_to_cover and not buy:
        reasons.append(Reason("sell_to_cover", SELL_TO_COVER))
    reasons.append(_cluster(event, issuer_recent))
    reasons.append(Reason("late", LATE if event.late else 0.0, {"late": event.late}))
    reasons.sort(key=_by_effect)  # stable: equal weights keep the factor order above
    return tuple(gates + reasons), gates[0].key if gates else None


def _by_day(d: PastDay) -> date:
    return d.day


def _by_effect(r: Reason) -> float:
    return -abs(r.weight)


# ------------------------------------------------------------------------------------------ factors


def _dollars(event: TradeDay, policy: Policy) -> Reason:
    multiple = event.value_cents / policy.min_value_cents if policy.min_value_cents > 0 else math.inf
    return Reason(
        "dollars", HUGE_VS_MIN if multiple >= HUGE_MULTIPLE else 0.0,
        {"value_cents": event.value_cents, "min": policy.min_value_cents, "multiple": multiple,
         "unpriced_rows": event.unpriced_rows},
    )


def _role(group: FilerGroup) -> Reason:
    senior = tuple(r for r in group.roles if r in SENIOR_ROLES)
    return Reason("role", SENIOR_ROLE if senior else 0.0, {"roles": group.roles, "senior": senior})


def _delta_own(event: TradeDay, buy: bool, policy: Policy) -> Reason:
    ratio = event.delta_own
    # Scott & Xu's finding is about sales; for a purchase the share is shown, not counted.
    large = ratio is not None and not buy and ratio >= policy.large_delta_own
    return Reason("delta_own", LARGE_SHARE if large else 0.0,
                  {"delta_own": ratio, "large": policy.large_delta_own, "buy": buy, "is_large": large})


def _size(event: TradeDay, same_side: list[PastDay], history_start: date | None, buy: bool) -> Reason:
    start = _years_before(event.day, BASELINE_YEARS)
    # Fully priced days only: a day with unpriced rows (or a date-only stand-in) would drag the median down.
    days = [d for d in same_side if d.day >= start and d.unpriced_rows == 0 and d.value_cents > 0]
    numbers: dict[str, Any] = {
        "buy": buy, "days": len(days), "window_start": start,
        "incomplete": history_start if history_start and history_start > start else None,
    }
    if len(days) < MIN_BASELINE_DAYS:
        return Reason("size", 0.0, numbers)
    values = [d.value_cents for d in days]
    median = _median(values)
    mad = _median([abs(v - median) for v in values])
    scale = max(MAD_TO_SIGMA * mad, MAD_FLOOR_SHARE * median)
    z = (event.value_cents - median) / scale
    numbers.update(value_cents=event.value_cents, median_cents=median, mad_cents=mad, z=z,
                   ratio=event.value_cents / median, first=days[0].day, last=days[-1].day)
    return Reason("size", UNUSUAL_SIZE if z >= UNUSUAL_Z else 0.0, numbers)


def _gap(event: TradeDay, same_side: list[PastDay], record_start: date | None, buy: bool) -> Reason:
    if same_side:
        last = same_side[-1].day
        months = _months_between(last, event.day)
        return Reason("gap", LONG_GAP if months >= LONG_GAP_MONTHS else 0.0,
                      {"buy": buy, "last": last, "months": months, "days": (event.day - last).days})
    months_of_record = _months_between(record_start, event.day) if record_start else None
    long = months_of_record is not None and months_of_record >= LONG_GAP_MONTHS
    return Reason("gap", LONG_GAP if long else 0.0,
                  {"buy": buy, "last": None, "months": months_of_record, "record_start": record_start})


def _pattern(event: TradeDay, own: list[PastDay], history_start: date | None) -> Reason:
    """Cohen, Malloy & Pomorski 2012, on open-market trades of either side in the three prior calendar years."""
    first = event.day.year - PATTERN_YEARS
    months: list[set[int]] = [set() for _ in range(PATTERN_YEARS)]
    for d in own:
        i = d.day.year - first
        if 0 <= i < PATTERN_YEARS:
            months[i].add(d.day.month)
    every_year = all(months)
    common = set.intersection(*months) if every_year else set()
    incomplete = history_start is None or history_start > date(first, 1, 1)
    if common:
        kind, weight = "routine", ROUTINE
    elif every_year and not incomplete:
        kind, weight = "opportunistic", OPPORTUNISTIC
    else:
        kind, weight = ("unknown" if incomplete else "none"), 0.0
    return Reason("pattern", weight, {"kind": kind, "first_year": first, "common": tuple(sorted(common)),
                                      "history_start": history_start})


def _plan(event: TradeDay, same_side: list[PastDay]) -> Reason:
    adopted = event.plan_adoption_date
    if event.plan is not True:
        # None: unknown (no box before 2023, no footnote) or mixed (some rows cite a plan, others do not).
        return Reason("plan", 0.0, {"plan": event.plan, "adopted": adopted})
    if adopted is None:
        return Reason("plan", PLAN, {"plan": True, "adopted": None})
    age = (event.day - adopted).days
    earlier = [d.day for d in same_side if d.plan and d.plan_adoption_date == adopted]
    numbers = {"plan": True, "adopted": adopted, "age": age, "since": earlier[0] if earlier else None,
               "buy": event.side == rules.BUY}
    if 0 <= age <= NEW_PLAN_DAYS and not earlier:
        return Reason("new_plan", NEW_PLAN, numbers)
    return Reason("plan", PLAN, numbers)


def _cluster(event: TradeDay, issuer_recent: Iterable[PastDay]) -> Reason:
    groups = {event.group_key}
    first = event.day
    for d in issuer_recent:
        # Sell-to-cover days are tax, not a view: they do not make a cluster.
        if d.side == event.side and 0 <= (event.day - d.day).days <= CLUSTER_DAYS and not d.sell_to_cover:
            groups.add(d.group_key)
            first = min(first, d.day)
    weight = (CLUSTER_PURCHASE if event.side == rules.BUY else CLUSTER_SALE) if len(groups) >= CLUSTER_GROUPS else 0.0
    return Reason("cluster", weight, {"groups": len(groups), "since": first, "day": event.day,
                                      "buy": event.side == rules.BUY})


# ------------------------------------------------------------------------------------------ texts


def _noun(n: dict[str, Any]) -> str:
    return "purchase" if n.get("buy") else "sale"


def _text_dollars(n: dict[str, Any]) -> str:
    text = _usd(n["value_cents"])
    if n["unpriced_rows"]:
        text = f"at least {text} ({_plural(n['unpriced_rows'], 'row')} without a price)"
    if math.isfinite(n["multiple"]):
        text += f", {n['multiple']:,.0f}x the server's minimum ({_usd(n['min'])})"
    return text


def _text_role(n: dict[str, Any]) -> str:
    shown = ", ".join(n["roles"]) or "no role given"
    return f"{shown} (senior: {', '.join(n['senior'])})" if n["senior"] else shown


def _text_delta_own(n: dict[str, Any]) -> str:
    ratio = n["delta_own"]
    if ratio is None:
        return "share of the holding unknown (no holding reported)"
    if n["buy"]:
        return f"added {_pct(ratio)} to their holding"
    large = f" (large: {n['large']:.0%} or more)" if n["is_large"] else ""
    return f"sold {_pct(ratio)} of their holding{large}"


def _text_size(n: dict[str, Any]) -> str:
    noun = _noun(n)
    incomplete = f"; history incomplete before {_ym(n['incomplete'])}" if n["incomplete"] else ""
    days = n["days"]
    if "z" not in n:
        count = f"only {_plural(days, noun + ' day')}" if days else f"no {noun} day"
        return f"{count} in the prior {BASELINE_YEARS} years: too few for a baseline{incomplete}"
    stats = (f"median {_usd(n['median_cents'])}, MAD {_usd(n['mad_cents'])} over {days} {noun} days "
             f"{_ym(n['first'])}..{_ym(n['last'])}{incomplete}; robust z {n['z']:.1f}")
    if n["z"] >= UNUSUAL_Z:
        return f"{_usd(n['value_cents'])}, {n['ratio']:.1f}x their usual {noun} day ({stats})"
    return f"{n['ratio']:.1f}x their usual {noun} day, not unusual ({stats})"


def _text_gap(n: dict[str, Any]) -> str:
    noun = _noun(n)
    if n["last"] is not None:
        if n["months"] >= LONG_GAP_MONTHS:
            return f"first {noun} in {n['months']} months (last {n['last']})"
        return f"previous {noun} {n['last']} ({_plural(n['days'], 'day')} earlier)"
    start = n["record_start"]
    if start is None:
        return f"first {noun} on record (length of the record unknown)"
    if n["months"] >= LONG_GAP_MONTHS:
        return f"first {noun} on record ({n['months']} months of record, from {_ym(start)})"
    return f"first {noun} on record (history incomplete before {_ym(start)})"


def _text_pattern(n: dict[str, Any]) -> str:
    first = n["first_year"]
    span = f"{first}-{first + PATTERN_YEARS - 1}"
    kind = n["kind"]
    if kind == "routine":
        names = ", ".join(_MONTHS[m - 1] for m in n["common"])
        return f"routine: traded in {names} of each year {span} (Cohen, Malloy & Pomorski)"
    if kind == "opportunistic":
        return f"opportunistic: traded in each year {span}, never in the same month (Cohen, Malloy & Pomorski)"
    if kind == "unknown":
        start = n["history_start"]
        return f"pattern unknown: history incomplete {f'before {_ym(start)}' if start else '(start unknown)'}"
    return f"no routine or opportunistic pattern: did not trade in each year {span}"


def _text_plan(n: dict[str, Any]) -> str:
    if n["plan"] is None:
        adopted = n["adopted"]
        return f"some rows under a 10b5-1 plan adopted {adopted}, others not" if adopted else "no 10b5-1 plan cited"
    if n["plan"] is False:
        return "not under a 10b5-1 plan (the filer says so)"
    if n["adopted"] is None:
        return "under a 10b5-1 plan (adoption date not given)"
    used = f"; trading under it since {n['since']}" if n["since"] else ""
    return f"under a 10b5-1 plan adopted {n['adopted']} ({n['age']} days before{used})"


def _text_new_plan(n: dict[str, Any]) -> str:
    return (f"under a 10b5-1 plan adopted {n['adopted']} ({n['age']} days before): the first {_noun(n)} under "
            "a new plan")


def _text_cluster(n: dict[str, Any]) -> str:
    verb = "bought" if n["buy"] else "sold"
    if n["groups"] >= CLUSTER_GROUPS:
        return f"cluster: {n['groups']} filer groups {verb} within {CLUSTER_DAYS} days ({n['since']}..{n['day']})"
    who = "only this filer group" if n["groups"] == 1 else f"{n['groups']} filer groups"
    return f"no cluster: {who} {verb} in the {CLUSTER_DAYS} days to {n['day']}"


def _text_late(n: dict[str, Any]) -> str:
    if n["late"]:
        return "filed late: more than two business days after the trade"
    return "filed on time" if n["late"] is False else "filing date unknown: timeliness unknown"


_TEXTS = {
    GATE_PURCHASES_OFF: lambda n: "purchase alerts are switched off on this server",
    GATE_UNPRICED: lambda n: (f"no price reported for {_plural(n['rows'], 'row')}: the dollar value is "
                              "unknown, never above a minimum"),
    GATE_BELOW_MIN: lambda n: f"{_usd(n['value_cents'])}, below the server's minimum of {_usd(n['min'])}",
    "dollars": _text_dollars,
    "purchase": lambda n: "a purchase: insiders' purchases predict returns, their sales on average do not",
    "from_issuer": lambda n: "bought from the issuer (a placement or offering), not on the market",
    "role": _text_role,
    "delta_own": _text_delta_own,
    "size": _text_size,
    "gap": _text_gap,
    "pattern": _text_pattern,
    "plan": _text_plan,
    "new_plan": _text_new_plan,
    "sell_to_cover": lambda n: "sell-to-cover: shares sold to pay the tax on an exercise or a vesting "
                               "(the footnote says so)",
    "cluster": _text_cluster,
    "late": _text_late,
}
_LABELS = {
    GATE_PURCHASES_OFF: "Purchases", GATE_UNPRICED: "Dollar size", GATE_BELOW_MIN: "Dollar size",
    "dollars": "Dollar size", "purchase": "Purchase", "from_issuer": "From the issuer", "role": "Role",
    "delta_own": "Share of holding", "size": "Size", "gap": "Gap", "pattern": "Pattern", "plan": "10b5-1 plan",
    "new_plan": "10b5-1 plan", "sell_to_cover": "Sell-to-cover", "cluster": "Cluster", "late": "Filing",
}


# ------------------------------------------------------------------------------------------ helpers


def _median(values: list[int] | list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _months_between(earlier: date, later: date) -> int:
    """Whole months from one date to a later one (2010-07-02 -> 2021-11-08: 136)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - 1 if later.day < earlier.day else months


def _usd(cents: float) -> str:
    return money(round(cents))


def _pct(ratio: float) -> str:
    return percent(ratio)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _ym(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"
