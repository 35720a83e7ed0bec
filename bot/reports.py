"""The core's answers: store -> analysis -> Reply. The CLI and the Discord cogs only draw these."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from statistics import median
from typing import TYPE_CHECKING

from bot import rules
from bot.analysis.flow import IssuerFlow, TradeDay, issuer_flow
from bot.analysis.rows import FilerGroup, TradeRow
from bot.periods import Period
from bot.render.reply import (
    Chart,
    Link,
    Reply,
    ReplyField,
    Table,
    as_of_line,
    error_reply,
    filing_url,
    money,
    percent,
    shares_text,
)
from bot.store.db import Store

if TYPE_CHECKING:
    from bot.pricefeed import PriceSource
from bot.store.issuers import UnknownTicker

# (flow, period) -> PNG bytes or None; the bot renders in a process pool, the CLI directly.
ChartMaker = Callable[[IssuerFlow, Period], Awaitable[bytes | None]]


def _role_text(group: FilerGroup) -> str:
    return ", ".join(group.roles[:2]) if group.roles else "insider"


def _plan_text(plan: bool | None) -> str:
    return "10b5-1 plan" if plan else ("no plan" if plan is False else "plan unknown")


def _short_name(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


async def issuer_report(
    store: Store,
    query: str,
    period: Period,
    *,
    as_of: datetime | None = None,
    chart: ChartMaker | None = None,
    with_rows: bool = False,
    prices: PriceSource | None = None,
) -> Reply:
    """The issuer report. ``with_rows`` adds every transaction of the period to ``reply.data`` (--json)."""
    try:
        issuer = await store.issuers.resolve(query)
    except UnknownTicker as exc:
        return error_reply(str(exc), hint="Check the ticker, or use the issuer's CIK.")
    history = await store.trades.issuer_history(issuer.cik, as_of=as_of)
    flow = issuer_flow(history, period.since, period.until)
    ticker = issuer.ticker or str(issuer.cik)
    former = f" (formerly {', '.join(issuer.former_tickers)})" if issuer.former_tickers else ""
    reply = Reply(
        title=f"{ticker} · {issuer.name}{former}",
        as_of=as_of_line(history.newest_acceptance, history.unknown_time_filings),
        url=f"https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK={issuer.cik}&type=4",
        data={"issuer": {"cik": issuer.cik, "name": issuer.name, "ticker": issuer.ticker}},
    )
    if with_rows:
        reply.data["transactions"] = transactions_json(flow.rows, history.groups, ticker)  # type: ignore[index]
    reply.data["totals"] = totals_json(flow)  # type: ignore[index]
    if not history.rows:
        reply.description = (
            f"No Form 4 filings of {ticker} are stored yet."
            if issuer.in_store is False or not history.rows
            else ""
        )
        reply.tone = "neutral"
        return reply
    if not flow.rows:
        newest = max((r.transaction_date for r in history.rows if r.transaction_date), default=None)
        reply.description = (
            f"No insider transactions {period.label}. The newest stored one is from {newest}; "
            "try a longer period (e.g. 5y or all)."
        )
        return reply
    if not flow.buy_cents and not flow.sell_cents and not flow.buy_shares and not flow.sell_shares:
        activity = "; ".join(f"{o.code} {o.meaning} ×{o.rows}" for o in flow.other_codes[:6])
        reply.description = (
            f"No open-market purchases or sales (code P or S) {period.label}."
            + (f"\nOther activity, not counted as buying or selling: {activity}." if activity else "")
            + (f" Plus {flow.derivative_rows} derivative row(s)." if flow.derivative_rows else "")
        )
        return reply
    net = flow.net_cents
    reply.tone = "sell" if net < 0 else "buy" if net > 0 else "neutral"
    direction = "net selling" if net < 0 else "net buying" if net > 0 else "no open-market flow"
    reply.description = (
        f"**{direction.capitalize()}: {money(net, signed=True)}** {period.label} "
        f"(open-market purchases minus sales, code P and S)."
    )
    plan_share = flow.plan_sell_cents / flow.sell_cents if flow.sell_cents else None
    reply.fields = [
        ReplyField("Purchases", f"{money(flow.buy_cents)} · {shares_text(flow.buy_shares)} sh · {flow.buyers} insider(s)"),
        ReplyField("Sales", f"{money(flow.sell_cents)} · {shares_text(flow.sell_shares)} sh · {flow.sellers} insider(s)"),
        ReplyField(
            "Under a 10b5-1 plan",
            f"{percent(plan_share)} of sales value"
            + (f" ({money(flow.unknown_plan_sell_cents)} unknown)" if flow.unknown_plan_sell_cents else ""),
        ),
        ReplyField("Late filings", f"{flow.late_days} trade day(s) filed after 2 business days"),
    ]
    biggest = [d for d in flow.largest if d.value_cents > 0][:5]
    if biggest:
        reply.fields.append(
            ReplyField(
                "Biggest trades",
                "\n".join(_trade_day_line(d, history.groups) for d in biggest),
                inline=False,
            )
        )
    if flow.other_codes:
        reply.fields.append(
            ReplyField(
                "Not counted as buying or selling",
                "; ".join(f"{o.code} {o.meaning} ×{o.rows}" for o in flow.other_codes[:6])
                + (f"; {flow.derivative_rows} derivative row(s)" if flow.derivative_rows else ""),
                inline=False,
            )
        )
    rows = []
    for ins in flow.insiders[:15]:
        rows.append(
            (
                _short_name(ins.group.display_name),
                _role_text(ins.group)[:14],
                money(ins.net_cents, signed=True),
                percent(ins.max_delta_own),
                "yes" if ins.sell_cents and ins.plan_sell_cents == ins.sell_cents else (
                    "part" if ins.plan_sell_cents else "no" if ins.sell_cents else "-"),
            )
        )
    reply.table = Table(
        columns=("Insider", "Role", "Net", "ΔOwn", "Plan"),
        rows=tuple(rows),
        align=("<", "<", ">", ">", "<"),
        title="By insider (net = purchases - sales; ΔOwn = largest one-day share of holding traded)",
    )
    if len(flow.insiders) > 15:
        reply.notes.append(f"… and {len(flow.insiders) - 15} more insiders")
    if history.unknown_time_filings:
        reply.notes.append(
            f"{history.unknown_time_filings} filing(s) have no known filing time (bare XML); they are included."
        )
    seen: set[str] = set()
    for d in biggest:
        for acc in d.accessions:
            url = filing_url(history.issuer_cik, acc)
            if url and acc not in seen:
                seen.add(acc)
                reply.links.append(Link(f"{d.day} {acc}", url))
    if prices is not None:
        from bot.rankings import after_sale_waves  # rankings builds on this module

        reply.fields.extend(await after_sale_waves(store, prices, issuer.cik, as_of=as_of))
    if chart is not None:
        png = await chart(flow, period)
        if png:
            reply.chart = Chart(png, f"{ticker.lower()}_insiders.png")
    return reply


def _trade_day_line(d: TradeDay, groups: dict[str, FilerGroup]) -> str:
    group = groups.get(d.group_key)
    name = group.display_name if group else d.group_key
    role = _role_text(group) if group else "insider"
    verb = "sold" if d.side == rules.SELL else "bought"
    extras = [f"ΔOwn {percent(d.delta_own)}", _plan_text(d.plan)]
    if d.sell_to_cover:
        extras.append("sell-to-cover")
    if d.private_from_issuer:
        extras.append("private purchase from issuer")
    if d.late:
        extras.append("late")
    return f"{d.day} {_short_name(name, 24)} ({role}) {verb} {money(d.value_cents)} · " + ", ".join(extras)


def transactions_json(rows: tuple[TradeRow, ...] | list[TradeRow], groups: dict[str, FilerGroup], ticker: str | None) -> list[dict]:
    out = []
    for r in rows:
        group = groups.get(r.group_key)
        out.append(
            {
                "accession": r.accession,
                "filed_at": r.accepted_at.strftime("%Y-%m-%dT%H:%M:%SZ") if r.accepted_at else None,
                "filed_date": r.filed_date.isoformat() if r.filed_date else None,
                "transaction_date": r.transaction_date.isoformat() if r.transaction_date else None,
                "issuer_cik": r.issuer_cik,
                "ticker": r.ticker or ticker,
                "owner_cik": group.owner_ciks[0] if group else None,
                "owner_ciks": list(group.owner_ciks) if group else [],
                "owner_name": group.display_name if group else None,
                "roles": list(group.roles) if group else [],
                "code": r.code,
                "code_meaning": rules.code_meaning(r.code),
                "acquired_disposed": r.acquired_disposed,
                "shares": r.shares,
                "price": r.price,
                "value": None if r.value_cents is None else r.value_cents / 100,
                "shares_owned_after": r.shares_owned_after,
                "direct_indirect": r.direct_indirect,
                "ownership_nature": r.ownership_nature,
                "is_derivative": r.is_derivative,
                "security_title": r.security_title,
                "counts_as": rules.flow_side(r.code, r.is_derivative),
                "plan_10b5_1": r.plan_flag,
                "plan_adoption_date": r.plan_adoption_date.isoformat() if r.plan_adoption_date else None,
                "sell_to_cover": r.sell_to_cover,
                "private_from_issuer": r.private_from_issuer,
                "late_filing": r.late,
            }
        )
    return out


def totals_json(flow: IssuerFlow) -> dict:
    return {
        "buy_value": flow.buy_cents / 100,
        "sell_value": flow.sell_cents / 100,
        "net_value": flow.net_cents / 100,
        "buy_shares": flow.buy_shares,
        "sell_shares": flow.sell_shares,
        "buyers": flow.buyers,
        "sellers": flow.sellers,
        "plan_sell_value": flow.plan_sell_cents / 100,
        "late_trade_days": flow.late_days,
    }


async def top_report(
    store: Store,
    period: Period,
    *,
    side: str = "sells",
    limit: int = 10,
    offset: int = 0,
    as_of: datetime | None = None,
    issuer_ciks: list[int] | None = None,
    scope_label: str = "all stored issuers",
) -> Reply:
    if side not in ("sells", "buys"):
        return error_reply(f"Unknown side '{side[:20]}'.", hint="Use sells or buys.")
    since = period.since or date(1990, 1, 1)
    until = period.until or datetime.now(UTC).date()
    ranked = await store.trades.rank_issuers(since, until, as_of=as_of, issuer_ciks=issuer_ciks)
    newest = await store.trades.newest_acceptance()
    key = (lambda r: r.net_cents) if side == "sells" else (lambda r: -r.net_cents)
    chosen = [r for r in sorted(ranked, key=key) if (r.net_cents < 0 if side == "sells" else r.net_cents > 0)]
    title = f"Largest net insider {'sales' if side == 'sells' else 'purchases'} {period.label}"
    reply = Reply(title=title, as_of=as_of_line(newest), tone="sell" if side == "sells" else "buy")
    if not chosen:
        reply.description = f"No net insider {'selling' if side == 'sells' else 'buying'} {period.label} in {scope_label}."
        reply.data = {"rows": []}
        return reply
    total = len(chosen)
    chosen = chosen[offset : offset + limit]
    reply.description = f"Open-market flow (code P and S) by transaction date, {scope_label}."
    reply.table = Table(
        columns=("#", "Ticker", "Net", "Sold", "Bought", "Ins."),
        rows=tuple(
            (
                str(i),
                (r.ticker or str(r.issuer_cik))[:6],
                money(r.net_cents, signed=True),
                money(r.sell_cents),
                money(r.buy_cents),
                str(r.sellers if side == "sells" else r.buyers),
            )
            for i, r in enumerate(chosen, offset + 1)
        ),
        align=(">", "<", ">", ">", ">", ">"),
    )
    if total > offset + limit:
        reply.notes.append(f"… and {total - offset - limit} more")
    reply.data = {
        "rows": [
            {
                "issuer_cik": r.issuer_cik, "ticker": r.ticker, "name": r.name, "net_value": r.net_cents / 100,
                "sell_value": r.sell_cents / 100, "buy_value": r.buy_cents / 100, "sell_shares": r.sell_shares,
                "buy_shares": r.buy_shares, "sellers": r.sellers, "buyers": r.buyers,
            }
            for r in chosen
        ],
        "since": since.isoformat(),
        "until": until.isoformat(),
        "total": total,
        "offset": offset,
    }
    return reply


async def insider_report(
    store: Store, query: str, *, as_of: datetime | None = None, prices: PriceSource | None = None
) -> Reply:
    """One person across issuers, with their usual pattern: the months they sell, usual size, plan or not."""
    matches = await store.trades.find_insiders(query)
    if not matches:
        return error_reply(f"No insider found for '{query[:40]}'.", hint="Try part of the name, or their CIK.")
    cik, name = matches[0]
    rows = await store.trades.insider_rows(cik, as_of=as_of)
    newest = await store.trades.newest_acceptance()
    reply = Reply(title=f"{name} (CIK {cik})", as_of=as_of_line(newest))
    if len(matches) > 1:
        reply.notes.append("Other matches: " + ", ".join(f"{n} ({c})" for c, n in matches[1:6]))
    per_issuer: dict[int, list[TradeRow]] = defaultdict(list)
    for r in rows:
        per_issuer[r.issuer_cik].append(r)
    table_rows = []
    sale_days: list[TradeDay] = []
    all_json: list[dict] = []
    for issuer_cik in per_issuer:
        history = await store.trades.issuer_history(issuer_cik, as_of=as_of)
        flow = issuer_flow(history)
        mine = [i for i in flow.insiders if cik in i.group.owner_ciks]
        ticker = history.ticker or str(issuer_cik)
        for ins in mine:
            sale_days.extend(d for d in ins.days if d.side == rules.SELL)
            table_rows.append(
                (
                    ticker[:6],
                    _role_text(ins.group)[:12],
                    money(ins.sell_cents),
                    money(ins.buy_cents),
                    str(ins.last_day or ""),
                )
            )
        keys = {i.group.key for i in mine}
        all_json.extend(transactions_json([r for r in flow.rows if r.group_key in keys], history.groups, ticker))
    if not table_rows:
        reply.description = "No open-market purchases or sales stored for this insider."
        other = sorted({r.code for r in rows})
        if other:
            reply.description += " Other codes on file: " + ", ".join(f"{c} ({rules.code_meaning(c)})" for c in other)
    else:
        reply.table = Table(
            columns=("Ticker", "Role", "Sold", "Bought", "Last"),
            rows=tuple(table_rows),
            align=("<", "<", ">", ">", "<"),
        )
        reply.tone = "sell" if any(r[2] != "$0" for r in table_rows) else "buy"
    if sale_days:
        months = defaultdict(int)
        for d in sale_days:
            months[d.day.month] += 1
        usual = sorted(months, key=lambda m: -months[m])[:4]
        sizes = [d.value_cents for d in sale_days if d.value_cents]
        plan_days = sum(1 for d in sale_days if d.plan)
        years = sorted({d.day.year for d in sale_days})
        reply.fields = [
            ReplyField("Sale days", f"{len(sale_days)} across {len(years)} year(s) ({years[0]}–{years[-1]})"),
            ReplyField(
                "Usual months",
                ", ".join(date(2000, m, 1).strftime("%b") + f" ({months[m]})" for m in sorted(usual)),
            ),
            ReplyField("Usual sale size", f"{money(int(median(sizes)))} per day (median)" if sizes else "n/a"),
            ReplyField("Under a 10b5-1 plan", f"{plan_days} of {len(sale_days)} sale days"),
        ]
    if prices is not None and table_rows:
        from bot.rankings import track_record, track_record_fields  # rankings builds on this module

        records = await track_record(store, prices, cik, as_of=as_of)
        reply.fields.extend(track_record_fields(records))
        reply.data = {"insider": {"cik": cik, "name": name}, "transactions": all_json, "track_record": records}
        return reply
    reply.data = {"insider": {"cik": cik, "name": name}, "transactions": all_json}
    return reply
