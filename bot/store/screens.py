"""All SQL of the screens: /latest (the firehose), /screen (the screener) and /clusters.

Every query honours the point-in-time rule (``bot.store.trades.ACTIVE``: superseded 4/A rows out, as of
``as_of``, default now) and names the date it selects on:

- ``filings.filed_date``: EDGAR's filing date (a Form 4 accepted until 22:00 ET counts for that day), then
  ``accepted_at`` within a day. /latest orders on these, /screen's filing window selects on ``filed_date``.
- ``transaction_date``: the trade's date. /screen's trade window, its order and /clusters select on it.

The unit of a listing is a *filing line*: one filing's rows of one code on one transaction date
(derivative and non-derivative rows apart). Musk's thirty sales of 2021-11-08 in one filing are one line.
Open-market lines (code P/S, non-derivative) are read from the per-filing aggregate ``flow_days``; other
codes are grouped from ``transactions`` the same way.

Big stores: listings and clusters are read newest first in date slices (a week, a month, a quarter, ...)
and stop as soon as a page is full, so the first page of a busy screen never reads the whole history.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from bot import rules
from bot.analysis.rows import HoldingRow, IssuerHistory
from bot.store.trades import ACTIVE, ROW_COLUMNS, as_of_text, day_from_text, time_from_text, trade_row

if TYPE_CHECKING:
    from bot.screens import ClusterFilter, LineFilter
    from bot.store.db import Store

OPEN_MARKET = rules.OPEN_MARKET_CODES
# Newest-first slices, in days back from the anchor (the window's end or today); the rest follows.
SLICE_DAYS = (7, 31, 92, 366, 1827)
_FIRST, _LAST = date.min.isoformat(), date.max.isoformat()


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Line:
    """One filing line: a filing's rows of one code on one transaction date."""

    accession: str
    transaction_date: date | None
    code: str
    is_derivative: bool
    issuer_cik: int
    group_key: str
    value_cents: int | None  # sum over rows with a price; None when no row has one
    shares: float
    filed_date: date | None
    accepted_at: datetime | None
    document_type: str
    date_of_original_submission: date | None
    ticker: str | None
    issuer_name: str

    @property
    def key(self) -> tuple[str, date | None, str, bool]:
        return (self.accession, self.transaction_date, self.code, self.is_derivative)


@dataclass(frozen=True, slots=True)
class LineDetail:
    """What a page shows of a line beyond its totals, read for the page's lines only."""

    rows: int
    plan: bool | None  # every row under a 10b5-1 plan / none / unknown or mixed
    average_price: float | None  # None unless every row has a price
    start: date | None  # the earliest deemed execution date or trade date: where the deadline starts
    shares_owned_after: float | None
    sell_to_cover: bool
    private_from_issuer: bool


@dataclass(frozen=True, slots=True)
class Owner:
    cik: int
    name: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompanyRow:
    issuer_cik: int
    ticker: str | None
    issuer_name: str
    insiders: int  # distinct filer groups
    lines: int
    buy_cents: int
    sell_cents: int
    value_cents: int | None  # every matching line with a value, whatever its code
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True, slots=True)
class ClusterHead:
    issuer_cik: int
    ticker: str | None
    issuer_name: str
    end_day: date  # the cluster's newest trade day; its window is [end_day - days, end_day]
    start_day: date
    insiders: int
    value_cents: int


@dataclass(frozen=True, slots=True)
class ClusterMember:
    issuer_cik: int
    group_key: str
    value_cents: int
    shares: float
    first_day: date
    last_day: date
    trade_days: int
    accessions: tuple[str, ...]


# ------------------------------------------------------------------------------- SQL functions (exact rules)


@lru_cache(maxsize=65536)
def _delay_days(start: str | None, filed: str | None) -> int | None:
    """Business days from a trade (or deemed execution) to the filing date: rules.filing_delay_business_days."""
    if not start or not filed:
        return None
    return rules.filing_delay_business_days(date.fromisoformat(start), date.fromisoformat(filed))


@lru_cache(maxsize=65536)
def _has_role(role: str, director: int, officer: int, ten: int, other: int, title: str | None) -> int:
    """Whether one reporting owner holds a role, by the same words as rules.roles_of."""
    if role == "Director":
        return int(bool(director))
    if role == "Officer":
        return int(bool(officer) or bool((title or "").strip()))
    if role == "10% owner":
        return int(bool(ten))
    return int(role in rules.roles_of(bool(director), bool(officer), bool(ten), bool(other), title))


# Words rules.roles_of needs in an officer title before it names these roles (a filter, not the rule).
_ROLE_WORDS = {
    "CEO": ("chief executive", "ceo"),
    "CFO": ("chief financial", "cfo"),
    "President": ("president",),
    "Chair": ("chair",),
}


# ------------------------------------------------------------------------------------------------ slices


def date_slices(lo: date | None, hi: date | None, anchor: date) -> list[tuple[str, str]]:
    """Contiguous ranges covering [lo, hi], newest first, as inclusive ISO bounds.

    The first ends at ``hi`` (open when None) and reaches back a week from ``anchor``; then a month, a
    quarter, a year, five years, and the rest."""
    floor, top = lo or date.min, hi or date.max
    out: list[tuple[str, str]] = []
    upper = top
    for days in (*SLICE_DAYS, None):
        lower = floor if days is None else max(floor, anchor - timedelta(days=days))
        if lower <= upper:
            out.append((lower.isoformat(), upper.isoformat()))
        if lower <= floor:
            break
        upper = lower - timedelta(days=1)
    return out


def _in_list(values: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in values)  # integers only: safe to inline


# ------------------------------------------------------------------------------------------------- queries


class Screens:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._prepared = False

    async def _prepare(self) -> None:
        # The filing-delay and role rules live in Python (bot.rules); SQLite calls them as functions so the
        # filters stay exact and set-based.
        if not self._prepared:
            await self.store.conn.create_function("if_delay", 2, _delay_days, deterministic=True)
            await self.store.conn.create_function("if_has_role", 6, _has_role, deterministic=True)
            self._prepared = True

    # -- filing lines

    def _arms(self, f: LineFilter, params: dict[str, object], driver: str, lo: str, hi: str,
              nulls: bool, with_nulls: bool = False) -> str:
        """The lines of one slice, from flow_days (open market) and transactions (everything else).

        ``driver`` says which date the slice [lo, hi] is on: 'filed' (filings.filed_date) or 'traded'
        (transaction_date); ``nulls`` selects the rows whose date is unknown instead, ``with_nulls`` as well."""
        params.update(lo=lo, hi=hi)
        scope = f"AND t.issuer_cik IN ({_in_list(f.issuer_ciks)})" if f.issuer_ciks is not None else ""
        if driver == "filed":
            when = "filed_date IS NULL" if nulls else "filed_date BETWEEN :lo AND :hi"
            if with_nulls:
                when = f"({when} OR filed_date IS NULL)"
            issuers = f"AND issuer_cik IN ({_in_list(f.issuer_ciks)})" if f.issuer_ciks is not None else ""
            drive = f"AND t.accession IN (SELECT accession FROM filings WHERE {when} {issuers})"
            flow_drive = generic_drive = drive
        else:
            when = "t.transaction_date IS NULL" if nulls else "t.transaction_date BETWEEN :lo AND :hi"
            if with_nulls:
                when = f"({when} OR t.transaction_date IS NULL)"
            flow_drive = f"AND {when}"
            # transactions has no index led by the date: walking (issuer, date) for every issuer is a
            # skip-scan SQLite does fast, and exact.
            issuers = _in_list(f.issuer_ciks) if f.issuer_ciks is not None else "SELECT cik FROM issuers"
            generic_drive = f"AND t.issuer_cik IN ({issuers}) AND {when}"
        traded = ""
        if f.traded_since or f.traded_until:
            params.update(t_lo=(f.traded_since or date.min).isoformat(), t_hi=(f.traded_until or date.max).isoformat())
            traded = "AND t.transaction_date BETWEEN :t_lo AND :t_hi"
        value_row, value_group = "", ""
        if f.min_value_cents is not None:
            params["min_value"] = f.min_value_cents
            value_row += " AND t.value_cents >= :min_value"
            value_group += " AND SUM(t.value_cents) >= :min_value"
        if f.max_value_cents is not None:
            params["max_value"] = f.max_value_cents
            value_row += " AND t.value_cents <= :max_value"
            value_group += " AND SUM(t.value_cents) <= :max_value"
        arms = []
        open_market = [c for c in f.codes if c in OPEN_MARKET]
        if open_market:
            arms.append(
                "SELECT t.accession, t.transaction_date, t.code, 0 AS is_derivative, t.issuer_cik, t.group_key, "
                "t.value_cents, t.shares FROM flow_days t "
                f"WHERE t.code IN ({','.join(repr(c) for c in open_market)}) {flow_drive} {scope} {traded} "
                f"AND {ACTIVE}{value_row}"
            )
        others = [c for c in f.codes if c not in OPEN_MARKET]
        # P/S derivative rows (swaps, say) only when derivatives are asked for; flow_days has no derivatives.
        grouped_codes = others + (open_market if f.derivatives else [])
        if grouped_codes:
            derivative = "" if f.derivatives else "AND t.is_derivative = 0"
            arms.append(
                "SELECT t.accession, t.transaction_date, t.code, t.is_derivative, t.issuer_cik, t.group_key, "
                "SUM(t.value_cents) AS value_cents, SUM(COALESCE(t.shares, 0)) AS shares FROM transactions t "
                f"WHERE t.code IN ({','.join(repr(c) for c in grouped_codes)}) {derivative} "
                f"AND NOT ({rules.open_market_sql('t')}) "
                f"{generic_drive} {scope} {traded} AND {ACTIVE} "
                "GROUP BY t.accession, t.transaction_date, t.code, t.is_derivative"
                + (f" HAVING 1{value_group}" if value_group else "")
            )
        return " UNION ALL ".join(arms)

    def _line_filters(self, f: LineFilter, params: dict[str, object]) -> str:
        """Conditions on a line ``l`` joined with its filing ``f``."""
        line_rows = ("x.accession = l.accession AND x.is_derivative = l.is_derivative "
                     "AND x.transaction_date IS l.transaction_date AND x.code = l.code")
        out: list[str] = []
        if f.filed_since or f.filed_until:
            params.update(f_lo=(f.filed_since or date.min).isoformat(), f_hi=(f.filed_until or date.max).isoformat())
            out.append("f.filed_date BETWEEN :f_lo AND :f_hi")
        if f.min_price is not None or f.max_price is not None:
            # The average price over the line; a line with an unpriced row has no price (never $0).
            params.update(min_price=f.min_price if f.min_price is not None else 0.0,
                          max_price=f.max_price if f.max_price is not None else 1e18)
            out.append("l.value_cents IS NOT NULL AND l.shares > 0 "
                       "AND l.value_cents / 100.0 / l.shares BETWEEN :min_price AND :max_price "
                       f"AND NOT EXISTS (SELECT 1 FROM transactions x WHERE {line_rows} AND x.price IS NULL)")
        if f.roles:
            checks = []
            for i, role in enumerate(f.roles):
                params[f"role{i}"] = role
                # A cheap necessary condition first (the words rules.roles_of looks for), then the rule itself.
                words = _ROLE_WORDS.get(role)
                hint = ("(" + " OR ".join(f"replace(lower(o.officer_title), '.', '') LIKE '%{w}%'" for w in words)
                        + ") AND ") if words else ""
                checks.append(f"({hint}if_has_role(:role{i}, o.is_director, o.is_officer, o.is_ten_percent_owner, "
                              "o.is_other, o.officer_title))")
            # A joint filing holds a role when any of its owners does (point in time: that filing's owners).
            out.append("EXISTS (SELECT 1 FROM filing_owners o WHERE o.accession = l.accession AND "
                       f"({' OR '.join(checks)}))")
        if f.plan == "plan":
            out.append(f"NOT EXISTS (SELECT 1 FROM transactions x WHERE {line_rows} AND x.plan_flag IS NOT 1)")
        elif f.plan == "no plan":
            out.append(f"NOT EXISTS (SELECT 1 FROM transactions x WHERE {line_rows} AND x.plan_flag IS NOT 0)")
        elif f.plan == "unknown":
            out.append(f"EXISTS (SELECT 1 FROM transactions x WHERE {line_rows} AND x.plan_flag IS NOT 1) "
                       f"AND EXISTS (SELECT 1 FROM transactions x WHERE {line_rows} AND x.plan_flag IS NOT 0)")
        if f.min_delay is not None or f.max_delay is not None:
            params.update(min_delay=f.min_delay or 0, max_delay=f.max_delay if f.max_delay is not None else 10**6)
            # From the earliest deemed execution (or trade) date of the line to the date that counts for the
            # deadline: a 4/A is judged by its original's filing date.
            start = (f"(SELECT MIN(COALESCE(x.deemed_execution_date, x.transaction_date)) FROM transactions x "
                     f"WHERE {line_rows})")
            out.append(f"if_delay({start}, COALESCE(f.date_of_original_submission, f.filed_date)) "
                       "BETWEEN :min_delay AND :max_delay")
        return " AND ".join(out) or "1"

    async def first_lines(self, f: LineFilter, *, order: str, count: int) -> list[Line]:
        """The first ``count`` lines matching ``f`` in ``order``: 'filed' (newest filing date, then acceptance
        time) or 'traded' (newest transaction date). Lines whose ordering date is unknown come last."""
        await self._prepare()
        if count <= 0:
            return []
        filed_window = bool(f.filed_since or f.filed_until)
        if order == "filed":
            sort = ("f.filed_date DESC, f.accepted_at IS NULL, f.accepted_at DESC, l.accession DESC, "
                    "l.transaction_date DESC, l.code, l.is_derivative")
        else:
            sort = ("l.transaction_date DESC, f.filed_date DESC, f.accepted_at DESC, l.accession DESC, l.code, "
                    "l.is_derivative")
        if order == "filed" or not filed_window:
            driver = order
            lo, hi = (f.filed_since, f.filed_until) if order == "filed" else (f.traded_since, f.traded_until)
            slices: list[tuple[str, str, bool]] = [(a, b, False) for a, b in date_slices(lo, hi, hi or f.today)]
            if lo is None and hi is None:
                slices.append((_FIRST, _LAST, True))
        else:
            # Newest trades first within a filing window: the window drives (it bounds the work), in one go.
            driver = "filed"
            slices = [((f.filed_since or date.min).isoformat(), (f.filed_until or date.max).isoformat(), False)]
        out: list[Line] = []
        for s_lo, s_hi, nulls in slices:
            params: dict[str, object] = {"as_of": as_of_text(f.as_of), "limit": count - len(out)}
            arms = self._arms(f, params, driver, s_lo, s_hi, nulls)
            if not arms:
                return []
            where = self._line_filters(f, params)
            rows = await self.store.fetchall(
                "SELECT l.accession, l.transaction_date, l.code, l.is_derivative, l.issuer_cik, l.group_key, "
                "l.value_cents, l.shares, f.filed_date, f.accepted_at, f.document_type, "
                "f.date_of_original_submission, i.ticker, i.name "
                f"FROM ({arms}) l JOIN filings f ON f.accession = l.accession "
                f"LEFT JOIN issuers i ON i.cik = l.issuer_cik WHERE {where} ORDER BY {sort} LIMIT :limit",
                params,
            )
            out.extend(_line(tuple(r)) for r in rows)
            if len(out) >= count:
                break
        return out

    async def companies(self, f: LineFilter, *, min_insiders: int, count: int, offset: int = 0) -> list[CompanyRow]:
        """Matching lines grouped by issuer, issuers with at least ``min_insiders`` filer groups, the most
        recently traded first. One pass over the windows (a group's totals need all of them)."""
        await self._prepare()
        params: dict[str, object] = {"as_of": as_of_text(f.as_of), "limit": count, "offset": offset,
                                     "min_insiders": min_insiders}
        if f.filed_since or f.filed_until:
            driver, lo, hi = "filed", f.filed_since, f.filed_until
        else:
            driver, lo, hi = "traded", f.traded_since, f.traded_until
        # Unknown dates too when nothing bounds them.
        arms = self._arms(f, params, driver, (lo or date.min).isoformat(), (hi or date.max).isoformat(), False,
                          with_nulls=lo is None and hi is None)
        if not arms:
            return []
        where = self._line_filters(f, params)
        # Join the filings only when a condition needs them: it is the costly part of a year of lines.
        needs_filing = bool(f.filed_since or f.filed_until or f.min_delay is not None or f.max_delay is not None)
        join = "JOIN filings f ON f.accession = l.accession" if needs_filing else ""
        rows = await self.store.fetchall(
            "SELECT l.issuer_cik, i.ticker, i.name, COUNT(DISTINCT l.group_key), COUNT(*), "
            "SUM(CASE WHEN l.code = 'P' AND l.is_derivative = 0 THEN l.value_cents END), "
            "SUM(CASE WHEN l.code = 'S' AND l.is_derivative = 0 THEN l.value_cents END), "
            "SUM(l.value_cents), MIN(l.transaction_date), MAX(l.transaction_date) "
            f"FROM ({arms}) l {join} LEFT JOIN issuers i ON i.cik = l.issuer_cik WHERE {where} "
            "GROUP BY l.issuer_cik HAVING COUNT(DISTINCT l.group_key) >= :min_insiders "
            "ORDER BY MAX(l.transaction_date) DESC, SUM(l.value_cents) DESC, l.issuer_cik "
            "LIMIT :limit OFFSET :offset",
            params,
        )
        return [
            CompanyRow(
                issuer_cik=r[0], ticker=r[1], issuer_name=r[2] or str(r[0]), insiders=int(r[3]), lines=int(r[4]),
                buy_cents=int(r[5] or 0), sell_cents=int(r[6] or 0),
                value_cents=None if r[7] is None else int(r[7]), first_day=day_from_text(r[8]), last_day=day_from_text(r[9]),
            )
            for r in rows
        ]

    async def details(self, lines: Iterable[Line]) -> dict[tuple[str, date | None, str, bool], LineDetail]:
        """Plan, average price, deadline start and holding after, for the given lines (a page)."""
        wanted = {line.key for line in lines}
        accessions = sorted({k[0] for k in wanted})
        out: dict[tuple[str, date | None, str, bool], LineDetail] = {}
        for i in range(0, len(accessions), 400):
            chunk = accessions[i : i + 400]
            rows = await self.store.fetchall(
                "SELECT accession, transaction_date, code, is_derivative, COUNT(*), "
                "CASE WHEN COUNT(plan_flag) < COUNT(*) THEN NULL WHEN MIN(plan_flag) = MAX(plan_flag) "
                "THEN MIN(plan_flag) END, "
                "CASE WHEN COUNT(price) = COUNT(*) AND SUM(shares) > 0 THEN SUM(value_cents) / 100.0 / SUM(shares) END, "
                "MIN(COALESCE(deemed_execution_date, transaction_date)), "
                "(SELECT y.shares_owned_after FROM transactions y WHERE y.accession = x.accession "
                " AND y.is_derivative = x.is_derivative AND y.transaction_date IS x.transaction_date "
                " AND y.code = x.code ORDER BY y.seq DESC LIMIT 1), "
                "MIN(sell_to_cover), MAX(private_from_issuer) "
                f"FROM transactions x WHERE accession IN ({','.join('?' * len(chunk))}) "
                "GROUP BY accession, transaction_date, code, is_derivative",
                chunk,
            )
            for r in rows:
                key = (r[0], day_from_text(r[1]), r[2], bool(r[3]))
                if key in wanted:
                    out[key] = LineDetail(
                        rows=int(r[4]), plan=None if r[5] is None else bool(r[5]), average_price=r[6],
                        start=day_from_text(r[7]), shares_owned_after=r[8], sell_to_cover=bool(r[9]),
                        private_from_issuer=bool(r[10]),
                    )
        return out

    async def owners(self, accessions: Iterable[str]) -> dict[str, tuple[Owner, ...]]:
        """Each filing's reporting owners with their roles then (a joint filing lists all of them)."""
        wanted = sorted(set(accessions))
        out: dict[str, list[tuple[tuple[int, str], Owner]]] = {}
        for i in range(0, len(wanted), 400):
            chunk = wanted[i : i + 400]
            rows = await self.store.fetchall(
                "SELECT accession, owner_cik, name, is_director, is_officer, is_ten_percent_owner, is_other, "
                f"officer_title FROM filing_owners WHERE accession IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for r in rows:
                roles = tuple(rules.roles_of(bool(r[3]), bool(r[4]), bool(r[5]), bool(r[6]), r[7]))
                # Natural persons with a role first, as the issuer report names a joint filing.
                rank = (0 if (r[3] or r[4]) else 1, r[2])
                out.setdefault(r[0], []).append((rank, Owner(int(r[1]), r[2], roles)))
        return {acc: tuple(o for _, o in sorted(owners, key=lambda p: p[0])) for acc, owners in out.items()}

    async def group_histories(self, pairs: Iterable[tuple[int, str]], as_of: datetime | None
                              ) -> dict[tuple[int, str], IssuerHistory]:
        """Each (issuer, filer group)'s active rows and holdings, ordered as ``Trades.issuer_history`` orders
        them: what ΔOwn needs (it is measured per group), read through the (group, issuer) indexes instead
        of the issuer's whole history."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}
        at = as_of_text(as_of)
        rows: dict[tuple[int, str], list] = {p: [] for p in wanted}
        holdings: dict[tuple[int, str], list[HoldingRow]] = {p: [] for p in wanted}
        for i in range(0, len(wanted), 100):
            chunk = wanted[i : i + 100]
            # An OR of (group, issuer) pairs: SQLite seeks the (group_key, issuer_cik) indexes once per pair
            # (a row-value IN over VALUES makes it scan the filings instead).
            rows_of = " OR ".join("(t.group_key = ? AND t.issuer_cik = ?)" for _ in chunk)
            holdings_of = " OR ".join("(h.group_key = ? AND h.issuer_cik = ?)" for _ in chunk)
            flat = [v for cik, group in chunk for v in (group, cik)]
            found = await self.store.fetchall(
                f"SELECT {ROW_COLUMNS} FROM transactions t JOIN filings f ON f.accession = t.accession "
                f"WHERE ({rows_of}) AND {ACTIVE.replace(':as_of', '?')} "
                "ORDER BY t.transaction_date, t.accepted_at, t.accession, t.is_derivative, t.seq",
                [*flat, at, at],
            )
            for r in found:
                row = trade_row(tuple(r))
                rows[(row.issuer_cik, row.group_key)].append(row)
            held = await self.store.fetchall(
                "SELECT h.accession, f.accepted_at, f.period_of_report, h.issuer_cik, h.group_key, h.security_title, "
                "h.shares_owned, h.direct_indirect, h.ownership_nature FROM holdings h JOIN filings f "
                f"ON f.accession = h.accession WHERE ({holdings_of}) "
                "AND h.is_derivative = 0 AND (f.accepted_at IS NULL OR f.accepted_at <= ?) "
                "AND (f.superseded_at IS NULL OR f.superseded_at > ?) ORDER BY f.period_of_report, f.accession",
                [*flat, at, at],
            )
            for h in held:
                holdings[(h[3], h[4])].append(
                    HoldingRow(h[0], time_from_text(h[1]), day_from_text(h[2]), h[3], h[4], h[5], h[6], h[7], h[8]))
        when = time_from_text(at) or datetime.min
        return {
            p: IssuerHistory(issuer_cik=p[0], issuer_name=str(p[0]), ticker=None, rows=tuple(rows[p]),
                             holdings=tuple(holdings[p]), groups={}, as_of=when, newest_acceptance=None,
                             unknown_time_filings=0)
            for p in wanted
        }

    async def data_span(self) -> tuple[date | None, date | None]:
        """The first and last open-market transaction dates stored (for 'widen to ...' hints)."""
        row = await self.store.fetchone("SELECT MIN(transaction_date), MAX(transaction_date) FROM flow_days")
        return (day_from_text(row[0]), day_from_text(row[1])) if row else (None, None)

    # -- clusters

    def _trade_days_sql(self, c: ClusterFilter, params: dict[str, object], rows_lo: str, hi: str,
                        extra: str = "") -> str:
        """Trade days (filer group x issuer x day) of the cluster's side in [rows_lo, hi].

        Sell-to-cover days are tax, not a view: as in the alert scorer's cluster rule, they do not count."""
        params.update(code=c.code, rows_lo=rows_lo, hi=hi)
        scope = f"AND t.issuer_cik IN ({_in_list(c.issuer_ciks)})" if c.issuer_ciks is not None else ""
        informative = "1"
        if c.code == "S":
            informative = ("EXISTS (SELECT 1 FROM transactions x WHERE x.accession = t.accession "
                           "AND x.is_derivative = 0 AND x.transaction_date = t.transaction_date AND x.code = 'S' "
                           "AND x.sell_to_cover = 0)")
        return (
            "SELECT t.issuer_cik, t.group_key, t.transaction_date AS day, julianday(t.transaction_date) AS jd, "
            "SUM(t.value_cents) AS value_cents, SUM(t.shares) AS shares, "
            "GROUP_CONCAT(t.accession) AS accessions "
            "FROM flow_days t WHERE t.code = :code AND t.transaction_date BETWEEN :rows_lo AND :hi "
            f"AND {ACTIVE} {scope} {extra} "
            f"GROUP BY t.issuer_cik, t.group_key, t.transaction_date HAVING MAX({informative})"
        )

    async def cluster_heads(self, c: ClusterFilter, *, count: int) -> list[ClusterHead]:
        """Issuers with at least ``c.min_insiders`` filer groups trading one side within ``c.days`` days, each
        with its newest such window, newest first.

        A window ends on a trade day E and spans [E - days, E]; it counts distinct filer groups (a joint
        filing's owners are one group). Slices go back from the newest; an issuer found in a newer slice has
        its newest cluster there, so older slices skip it."""
        out: list[ClusterHead] = []
        anchor = c.until or c.today
        for lo, hi in date_slices(c.since, c.until, anchor):
            params: dict[str, object] = {"as_of": as_of_text(c.as_of), "lo": lo, "days": c.days,
                                         "n": c.min_insiders, "limit": count - len(out)}
            seen = f"AND t.issuer_cik NOT IN ({_in_list(h.issuer_cik for h in out)})" if out else ""
            rows_lo = (date.fromisoformat(lo) - timedelta(days=c.days)).isoformat() if lo != _FIRST else lo
            td = self._trade_days_sql(c, params, rows_lo, hi, seen)
            rows = await self.store.fetchall(
                f"WITH td AS MATERIALIZED ({td}), "
                "ends AS MATERIALIZED (SELECT a.issuer_cik, a.day, a.jd FROM td a WHERE a.day >= :lo "
                "  AND (SELECT COUNT(DISTINCT b.group_key) FROM td b WHERE b.issuer_cik = a.issuer_cik "
                "       AND b.jd BETWEEN a.jd - :days AND a.jd) >= :n), "
                "newest AS (SELECT issuer_cik, MAX(day) AS day, MAX(jd) AS jd FROM ends GROUP BY issuer_cik) "
                "SELECT n.issuer_cik, i.ticker, i.name, n.day, MIN(b.day), COUNT(DISTINCT b.group_key), "
                "SUM(b.value_cents) FROM newest n JOIN td b ON b.issuer_cik = n.issuer_cik "
                "AND b.jd BETWEEN n.jd - :days AND n.jd LEFT JOIN issuers i ON i.cik = n.issuer_cik "
                "GROUP BY n.issuer_cik ORDER BY n.day DESC, SUM(b.value_cents) DESC, n.issuer_cik LIMIT :limit",
                params,
            )
            out.extend(
                ClusterHead(issuer_cik=r[0], ticker=r[1], issuer_name=r[2] or str(r[0]), end_day=day_from_text(r[3]),  # type: ignore[arg-type]
                            start_day=day_from_text(r[4]), insiders=int(r[5]), value_cents=int(r[6] or 0))  # type: ignore[arg-type]
                for r in rows
            )
            if len(out) >= count:
                break
        return out

    async def cluster_members(self, c: ClusterFilter, heads: Iterable[ClusterHead]) -> list[ClusterMember]:
        """The filer groups inside each head's window, with their value and days there."""
        heads = list(heads)
        if not heads:
            return []
        params: dict[str, object] = {"as_of": as_of_text(c.as_of)}
        windows = ", ".join(
            f"({h.issuer_cik}, '{(h.end_day - timedelta(days=c.days)).isoformat()}', '{h.end_day.isoformat()}')"
            for h in heads
        )
        lo = min(h.end_day for h in heads) - timedelta(days=c.days)
        hi = max(h.end_day for h in heads)
        td = self._trade_days_sql(c, params, lo.isoformat(), hi.isoformat(),
                                  f"AND t.issuer_cik IN ({_in_list(h.issuer_cik for h in heads)})")
        rows = await self.store.fetchall(
            f"WITH td AS ({td}), w(cik, lo, hi) AS (VALUES {windows}) "
            "SELECT td.issuer_cik, td.group_key, SUM(td.value_cents), SUM(td.shares), MIN(td.day), MAX(td.day), "
            "COUNT(*), GROUP_CONCAT(td.accessions) FROM td JOIN w ON w.cik = td.issuer_cik "
            "AND td.day BETWEEN w.lo AND w.hi GROUP BY td.issuer_cik, td.group_key "
            "ORDER BY td.issuer_cik, SUM(td.value_cents) DESC",
            params,
        )
        return [
            ClusterMember(
                issuer_cik=r[0], group_key=r[1], value_cents=int(r[2] or 0), shares=float(r[3] or 0),
                first_day=day_from_text(r[4]), last_day=day_from_text(r[5]), trade_days=int(r[6]),  # type: ignore[arg-type]
                accessions=tuple(dict.fromkeys(sorted((r[7] or "").split(","), reverse=True))),
            )
            for r in rows
        ]


def _line(r: tuple) -> Line:
    return Line(
        accession=r[0], transaction_date=day_from_text(r[1]), code=r[2], is_derivative=bool(r[3]), issuer_cik=int(r[4]),
        group_key=r[5], value_cents=None if r[6] is None else int(r[6]), shares=float(r[7] or 0),
        filed_date=day_from_text(r[8]), accepted_at=time_from_text(r[9]), document_type=r[10],
        date_of_original_submission=day_from_text(r[11]), ticker=r[12], issuer_name=r[13] or str(r[4]),
    )


_SCREENS: weakref.WeakKeyDictionary[Store, Screens] = weakref.WeakKeyDictionary()


def screens_of(store: Store) -> Screens:
    """The store's screen queries (one per store, so its SQL functions are registered once)."""
    found = _SCREENS.get(store)
    if found is None:
        found = _SCREENS[store] = Screens(store)
    return found
