"""What the scorer needs to know about trade days' pasts, fetched for a whole batch in one statement.

For each event (issuer, filer group, trading day, side, acceptance time) the batch query returns, point in time
(rows accepted by the event's acceptance and not superseded then; rows of unknown time are kept, as everywhere):

- ``prior``: the group's open-market trade days at the issuer before the event day, in detail from January 1
  three years before the event's year (both sides: the same side for size, both for the trading pattern) and,
  for each side, the last older day as a date-only stand-in (for "first sale in N months");
- ``issuer_recent``: other groups' trade days on the same side at the issuer in the cluster window up to the
  event day;
- ``history_start``: the issuer's first stored transaction date (any code): how far back the record goes;
- ``group_start``: the group's first stored transaction date at the issuer, when the event has no earlier day on
  its side (the only case where the scorer needs it: "first sale on record" counts from the insider's start).

All of it selects on ``transaction_date`` for the windows and ``accepted_at`` for "as of". The requests travel
as one JSON parameter (``json_each``): no temporary table, no per-event query, no bound-variable limit.
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from bot import rules
from bot.store.filings import iso_utc

if TYPE_CHECKING:
    from bot.store.db import Store

# Match bot.alerts.scoring (CLUSTER_DAYS; BASELINE_YEARS and PATTERN_YEARS); passed in, so the store does not
# import the alerts package.
DEFAULT_CLUSTER_DAYS = 14
DEFAULT_DETAIL_YEARS = 3
# Rows of unknown acceptance count as known (as in bot.store.trades); "now" compares above any real time.
_NOW = "9999-12-31T23:59:59Z"

_CODE = {rules.SELL: "S", rules.BUY: "P"}
_SIDE = {"S": rules.SELL, "P": rules.BUY}

# One statement, four arms over the same request list. Each arm leads with the request (CROSS JOIN keeps SQLite
# from scanning transactions first) and then walks an index: transactions_group (group_key, issuer_cik) for the
# group's rows, transactions_issuer_day (issuer_cik, transaction_date) for the cluster window and the issuer's
# first stored day.
#
# Arm 0 buckets the group's open-market rows before the event day: one bucket per day from `since`, and per side
# one bucket for everything older (only its last date is used: "first sale in N months").
# Arm 2 dates the group's record, only for events with no earlier day on their side (the one case where it
# changes a reason: "first sale on record"); arm 3 the issuer's (how far back the store goes), once per issuer.
# Columns: arm, event index, bucket or group, code, then the aggregates below.
_AGGREGATES = (
    "MAX(t.transaction_date), SUM(t.value_cents), COUNT(*), SUM(t.value_cents IS NULL), SUM(t.plan_flag), "
    "COUNT(t.plan_flag), MAX(t.plan_adoption_date), MIN(t.sell_to_cover)"
)
_NO_AGGREGATES = "NULL, NULL, NULL, NULL, NULL, NULL, NULL"  # the seven after the date
_ACTIVE = "(t.accepted_at IS NULL OR t.accepted_at <= r.as_of) AND (t.superseded_at IS NULL OR t.superseded_at > r.as_of)"
_OPEN_MARKET_BEFORE = f"{rules.open_market_sql('t')} AND t.transaction_date < r.day"
_BATCH_SQL = f"""
WITH r AS (
    SELECT key AS idx,
           json_extract(value, '$[0]') AS issuer,
           json_extract(value, '$[1]') AS grp,
           json_extract(value, '$[2]') AS day,
           json_extract(value, '$[3]') AS code,
           json_extract(value, '$[4]') AS as_of,
           json_extract(value, '$[5]') AS since,
           json_extract(value, '$[6]') AS cluster_since
    FROM json_each(:requests)
)
SELECT 0, r.idx, CASE WHEN t.transaction_date >= r.since THEN 'd' ELSE 'o' END, t.code, {_AGGREGATES}
FROM r CROSS JOIN transactions t
WHERE t.group_key = r.grp AND t.issuer_cik = r.issuer AND {_OPEN_MARKET_BEFORE} AND {_ACTIVE}
GROUP BY r.idx, CASE WHEN t.transaction_date >= r.since THEN t.transaction_date END, t.code
UNION ALL
SELECT 1, r.idx, t.group_key, t.code, {_AGGREGATES}
FROM r CROSS JOIN transactions t
WHERE t.issuer_cik = r.issuer AND t.transaction_date BETWEEN r.cluster_since AND r.day AND t.group_key <> r.grp
  AND t.code = r.code AND t.is_derivative = 0 AND {_ACTIVE}
GROUP BY r.idx, t.group_key, t.transaction_date
UNION ALL
SELECT 2, r.idx, NULL, NULL, CASE WHEN NOT EXISTS (
    SELECT 1 FROM transactions t
    WHERE t.group_key = r.grp AND t.issuer_cik = r.issuer AND t.code = r.code AND {_OPEN_MARKET_BEFORE} AND {_ACTIVE}
) THEN (
    SELECT MIN(t.transaction_date) FROM transactions t WHERE t.group_key = r.grp AND t.issuer_cik = r.issuer AND {_ACTIVE}
) END, {_NO_AGGREGATES}
FROM r
UNION ALL
SELECT 3, NULL, r.issuer, r.as_of, (
    SELECT t.transaction_date FROM transactions t
    WHERE t.issuer_cik = r.issuer AND t.transaction_date IS NOT NULL AND {_ACTIVE}
    ORDER BY t.transaction_date LIMIT 1
), {_NO_AGGREGATES}
FROM (SELECT DISTINCT issuer, as_of FROM r) AS r
"""


@dataclass(frozen=True, slots=True)
class BaselineRequest:
    issuer_cik: int
    group_key: str
    day: date  # the event's trading day
    side: str  # rules.BUY or rules.SELL
    as_of: datetime | None = None  # the event's acceptance (its newest filing); None: everything stored


class PastTradeDay(NamedTuple):
    """An earlier trade day, with what the scorer reads of it (``bot.alerts.scoring.PastDay``). A tuple, not a
    TradeDay: a batch builds tens of thousands of them, and accessions, lateness and ΔOwn of past days are not
    needed (ΔOwn needs the row-level holdings walk of ``bot.analysis.flow``)."""

    group_key: str
    day: date
    side: str
    value_cents: int  # over the priced rows
    unpriced_rows: int
    rows: int  # 0: a stand-in for all older days of that side, only its date counts
    plan: bool | None
    plan_adoption_date: date | None
    sell_to_cover: bool


@dataclass(frozen=True, slots=True)
class EventBaseline:
    """One event's past as the store knew it at the event's acceptance (``bot.alerts.scoring.EventHistory``)."""

    prior: tuple[PastTradeDay, ...]
    issuer_recent: tuple[PastTradeDay, ...]
    history_start: date | None  # the issuer's first stored day: how far back the store's record goes
    group_start: date | None = None  # the group's first stored day there; only filled when no earlier day of
    # the event's side exists (then it dates "first sale on record"), None otherwise


class Baselines:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def for_events(
        self,
        requests: Sequence[BaselineRequest],
        *,
        cluster_days: int = DEFAULT_CLUSTER_DAYS,
        detail_years: int = DEFAULT_DETAIL_YEARS,
    ) -> list[EventBaseline]:
        """Baselines for a batch of events, in the order asked, from one statement.

        ``prior`` holds every open-market day of the group from January 1 of the event's year minus
        ``detail_years`` to the day before the event, and for each side the last earlier day as a stand-in
        (``rows == 0``, no amounts: only its date counts, for "first sale in N months").
        """
        if not requests:
            return []
        as_of = [(iso_utc(r.as_of) if r.as_of else None) or _NOW for r in requests]
        payload = json.dumps([
            [
                r.issuer_cik, r.group_key, r.day.isoformat(), _CODE[r.side], at,
                f"{r.day.year - detail_years:04d}-01-01", (r.day - timedelta(days=cluster_days)).isoformat(),
            ]
            for r, at in zip(requests, as_of)
        ])
        rows = await self.store.fetchall(_BATCH_SQL, {"requests": payload})
        with _paused_gc():
            return _baselines(requests, as_of, rows)


def _baselines(requests: Sequence[BaselineRequest], as_of: list[str], rows: Sequence[Sequence]) -> list[EventBaseline]:
    prior: dict[int, list[PastTradeDay]] = defaultdict(list)
    recent: dict[int, list[PastTradeDay]] = defaultdict(list)
    group_first: dict[int, str | None] = {}
    issuer_first: dict[tuple[int, str], str | None] = {}
    for row in rows:
        arm = row[0]
        if arm == 0:  # in order of day within each event, older-days stand-ins first
            idx = row[1]
            if row[2] == "d":
                prior[idx].append(_trade_day(requests[idx].group_key, row))
            else:
                prior[idx].append(PastTradeDay(requests[idx].group_key, date.fromisoformat(row[4]),
                                               _SIDE[row[3]], 0, 0, 0, None, None, False))
        elif arm == 1:
            recent[row[1]].append(_trade_day(row[2], row))
        elif arm == 2:
            group_first[row[1]] = row[4]
        else:
            issuer_first[(row[2], row[3])] = row[4]
    return [
        EventBaseline(
            tuple(prior.get(i, ())), tuple(recent.get(i, ())),
            _day(issuer_first.get((r.issuer_cik, as_of[i]))), _day(group_first.get(i)),
        )
        for i, r in enumerate(requests)
    ]


def _trade_day(group_key: str, row: Sequence) -> PastTradeDay:
    count, plan_sum, plan_count = row[6], row[8], row[9]
    # Same rule as flow.trade_days: one plan flag shared by every row, else unknown.
    plan = (plan_sum == count) if plan_count == count and plan_sum in (0, count) else None
    return PastTradeDay(
        group_key, date.fromisoformat(row[4]), _SIDE[row[3]], int(row[5] or 0), int(row[7] or 0), int(count), plan,
        _day(row[10]), bool(row[11]),
    )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Tens of thousands of small tuples, none in a reference cycle: without this the cyclic collector walks
    every live object again and again (same reasoning as bot.alerts.scoring). Synchronous code only."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
