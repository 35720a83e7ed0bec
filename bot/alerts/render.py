"""What an alert shows, and the alert as a Reply: pure (no SQL, no Discord, no clock).

An ``AlertView`` is everything one alerted trade day shows, frozen when the engine records it (stored as
JSON in the outbox), so that a post after a restart, a retry or an edit shows exactly what was decided. The
Discord adapter (``cogs.common.reply_to_discord``) turns the Reply into an embed; several alerts of one issuer
found in the same poll share one message, so each alert keeps well inside a quarter of Discord's 6,000
characters per message (``ALERT_BUDGET``).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from bot import rules
from bot.render.reply import Chart, Link, Reply, ReplyField, Table, filing_url, money, percent, shares_text

ITEMS_PER_MESSAGE = 4  # alerts sharing one message: 4 x ALERT_BUDGET stays under Discord's 6,000 total
ALERT_BUDGET = 1_450  # characters of one alert's title, description, fields, links and footer
DESCRIPTION_BUDGET = 880  # counted reasons first, then facts shown with weight 0, the history line always
CHART_DAYS = 365  # the chart shows the filer group's days on the same side over the year to the trade


@dataclass(frozen=True, slots=True)
class ReasonView:
    key: str
    label: str
    weight: float
    text: str


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alerted trade day: a filer group's open-market trades of one side at one issuer on one day."""

    issuer_cik: int
    ticker: str | None
    issuer_name: str
    group_key: str
    insider: str
    roles: tuple[str, ...]
    side: str  # rules.BUY or rules.SELL
    day: date  # transaction date
    shares: float
    value_cents: int
    unpriced_rows: int
    rows: int
    delta_own: float | None
    plan: bool | None  # every row under a 10b5-1 plan / none / unknown or mixed
    plan_adoption_date: date | None
    sell_to_cover: bool
    late: bool | None
    accessions: tuple[str, ...]
    accepted_at: datetime | None  # the newest acceptance among the filings (UTC)
    fires: bool  # False after a correction that leaves it below the server's settings
    score: float
    threshold: float | None  # None: "everything" (no threshold past the gates)
    sensitivity: str
    reasons: tuple[ReasonView, ...]
    history_start: date | None  # the issuer's first stored trade: how far back the record goes
    baseline_start: date | None  # the size baseline's window start (three years back)
    baseline_days: int  # same-side days in that window
    chart: tuple[tuple[date, int], ...] = ()  # (day, value_cents) of the group's same-side days, oldest first
    note: str | None = None  # "Corrected by Form 4/A ...", "No longer reported ..."
    amended_by: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return self.ticker or self.issuer_name

    @property
    def average_price(self) -> float | None:
        if self.unpriced_rows or not self.shares:
            return None
        return self.value_cents / 100 / self.shares

    @property
    def verb(self) -> str:
        return "bought" if self.side == rules.BUY else "sold"

    @property
    def headline(self) -> str:
        return f"{self.label} · {self.insider} {self.verb} {money(self.value_cents)}"

    # ---- JSON for the outbox

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "issuer_cik": self.issuer_cik, "ticker": self.ticker, "issuer_name": self.issuer_name,
            "group_key": self.group_key, "insider": self.insider, "roles": list(self.roles), "side": self.side,
            "day": self.day.isoformat(), "shares": self.shares, "value_cents": self.value_cents,
            "unpriced_rows": self.unpriced_rows, "rows": self.rows, "delta_own": self.delta_own, "plan": self.plan,
            "plan_adoption_date": _iso(self.plan_adoption_date), "sell_to_cover": self.sell_to_cover,
            "late": self.late, "accessions": list(self.accessions), "accepted_at": _iso(self.accepted_at),
            "fires": self.fires, "score": self.score, "threshold": self.threshold, "sensitivity": self.sensitivity,
            "reasons": [[r.key, r.label, r.weight, r.text] for r in self.reasons],
            "history_start": _iso(self.history_start), "baseline_start": _iso(self.baseline_start),
            "baseline_days": self.baseline_days, "chart": [[d.isoformat(), v] for d, v in self.chart],
            "note": self.note, "amended_by": list(self.amended_by),
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AlertView:
        d = json.loads(text)
        return cls(
            issuer_cik=d["issuer_cik"], ticker=d["ticker"], issuer_name=d["issuer_name"], group_key=d["group_key"],
            insider=d["insider"], roles=tuple(d["roles"]), side=d["side"], day=date.fromisoformat(d["day"]),
            shares=d["shares"], value_cents=d["value_cents"], unpriced_rows=d["unpriced_rows"], rows=d["rows"],
            delta_own=d["delta_own"], plan=d["plan"], plan_adoption_date=_day(d["plan_adoption_date"]),
            sell_to_cover=d["sell_to_cover"], late=d["late"], accessions=tuple(d["accessions"]),
            accepted_at=datetime.fromisoformat(d["accepted_at"]) if d["accepted_at"] else None, fires=d["fires"],
            score=d["score"], threshold=d["threshold"], sensitivity=d["sensitivity"],
            reasons=tuple(ReasonView(k, lab, w, t) for k, lab, w, t in d["reasons"]),
            history_start=_day(d["history_start"]), baseline_start=_day(d["baseline_start"]),
            baseline_days=d["baseline_days"], chart=tuple((date.fromisoformat(x), v) for x, v in d["chart"]),
            note=d["note"], amended_by=tuple(d["amended_by"]),
        )

    def with_note(self, note: str | None) -> AlertView:
        return replace(self, note=note)


@dataclass(frozen=True, slots=True)
class DigestRow:
    ticker: str
    name: str
    sold_cents: int
    bought_cents: int
    sellers: int
    buyers: int


@dataclass(frozen=True, slots=True)
class DigestView:
    """A server's daily digest: the watchlist's flow among Forms 4 accepted in a 24-hour window, and the
    alerts held back by the daily cap."""

    day: date
    since: datetime
    until: datetime
    rows: tuple[DigestRow, ...]
    held: tuple[str, ...]  # one line per alert over the daily cap
    alerts_posted: int

    @property
    def empty(self) -> bool:
        return not self.rows and not self.held

    def to_json(self) -> str:
        return json.dumps({
            "day": self.day.isoformat(), "since": self.since.isoformat(), "until": self.until.isoformat(),
            "rows": [[r.ticker, r.name, r.sold_cents, r.bought_cents, r.sellers, r.buyers] for r in self.rows],
            "held": list(self.held), "alerts_posted": self.alerts_posted,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DigestView:
        d = json.loads(text)
        return cls(date.fromisoformat(d["day"]), datetime.fromisoformat(d["since"]),
                   datetime.fromisoformat(d["until"]), tuple(DigestRow(*r) for r in d["rows"]), tuple(d["held"]),
                   d["alerts_posted"])


# ------------------------------------------------------------------------------------------- replies


def alert_reply(view: AlertView, *, ref: str = "", chart: bytes | None = None) -> Reply:
    """One alert as a Reply: ticker, insider, role, shares, price, value, ΔOwn, plan flag, the reasons with
    their numbers and the history they rest on, the SEC link. ``ref`` (the message nonce) goes in the footer
    so that a post can be recognised in the channel's history after a long outage."""
    title = ("Corrected: " if not view.fires else "") + view.headline
    filings = len(view.accessions)
    roles = ", ".join(view.roles) or "no role given"
    lines = [f"**{roles}** · traded {view.day.isoformat()} · {view.rows} row(s) in {filings} filing(s)"]
    if view.note:
        lines.append(f"⚠️ {view.note}")
    needs = "any open-market trade" if view.threshold is None else f"needs {view.threshold:g}"
    lines.append(f"Score **{view.score:+.1f}** ({needs} on {view.sensitivity})")
    counted = [r for r in view.reasons if r.weight]
    shown_facts = [r for r in view.reasons if not r.weight and r.key in ("size", "pattern", "gap", "cluster")]
    for r in counted + shown_facts:
        weight = f"{r.weight:+.1f}" if r.weight else " 0 "
        lines.append(f"`{weight}` **{r.label}**: {r.text}")
    history = _history_line(view)  # always shown: what the reasons were measured against
    description = _fit_lines(lines, DESCRIPTION_BUDGET - len(history) - 1) + "\n" + history
    fields = [
        ReplyField("Shares", shares_text(view.shares)),
        ReplyField("Price", f"${view.average_price:,.2f} avg" if view.average_price is not None else "n/a"),
        ReplyField("Value", money(view.value_cents) + (" +" if view.unpriced_rows else "")),
        ReplyField("ΔOwn", percent(view.delta_own)),
        ReplyField("10b5-1 plan", _plan_text(view)),
        ReplyField("Filed", "late" if view.late else "on time" if view.late is False else "n/a"),
    ]
    links = [Link(a, url) for a in view.accessions[-2:] if (url := filing_url(view.issuer_cik, a))]
    newest = links[-1].url if links else None
    as_of = f"Accepted {view.accepted_at:%Y-%m-%d %H:%M} UTC" if view.accepted_at else "Acceptance time unknown"
    if ref:
        as_of += f" · ref {ref}"
    return Reply(
        title=title, description=description, fields=fields, links=links, url=newest,
        tone="neutral" if not view.fires else ("buy" if view.side == rules.BUY else "sell"), as_of=as_of,
        chart=Chart(chart, filename=f"alert_{view.label.lower()}.png") if chart else None,
    )


def message_replies(views: Sequence[AlertView], *, ref: str = "", chart: bytes | None = None) -> list[Reply]:
    """The replies of one message (one issuer, one poll): the chart goes with the first."""
    return [alert_reply(v, ref=ref, chart=chart if i == 0 else None) for i, v in enumerate(views)]


def wave_thread_name(view: AlertView) -> str:
    return f"{view.label} · {view.insider} {'purchases' if view.side == rules.BUY else 'sales'}"[:100]


def digest_reply(view: DigestView, *, ref: str = "") -> Reply:
    table = None
    if view.rows:
        table = Table(
            columns=("Ticker", "Sold", "Bought", "Insiders"),
            rows=tuple((r.ticker, money(r.sold_cents), money(r.bought_cents), f"{r.sellers + r.buyers}")
                       for r in view.rows),
            align=("<", ">", ">", ">"),
        )
    window = f"Forms 4 accepted {view.since:%Y-%m-%d %H:%M} to {view.until:%Y-%m-%d %H:%M} UTC"
    description = f"{window}. Open-market flow on the watchlist"
    if not view.rows:
        description = f"{window}. No open-market trades on the watchlist."
    notes = []
    if view.held:
        notes.append(f"{len(view.held)} alert(s) over the daily cap ({view.alerts_posted} posted):")
        notes.extend(view.held[:15])
        if len(view.held) > 15:
            notes.append(f"… and {len(view.held) - 15} more")
    as_of = f"Daily digest · ref {ref}" if ref else "Daily digest"
    return Reply(title=f"Insider digest · {view.day.isoformat()}", description=description, table=table,
                 notes=notes, as_of=as_of)


def held_line(view: AlertView) -> str:
    """One line of the digest for an alert held back by the daily cap."""
    return f"{view.label} {view.insider} {view.verb} {money(view.value_cents)} on {view.day.isoformat()}"


# ------------------------------------------------------------------------------------------- the chart


def alert_chart(view: AlertView) -> bytes | None:
    """A small bar chart (600 x 200 px): the filer group's same-side days at the issuer over the year to the
    alerted day, that day highlighted. CPU work: call it off the event loop."""
    start = view.day - timedelta(days=CHART_DAYS)
    points = [(d, v) for d, v in view.chart if start <= d < view.day] + [(view.day, view.value_cents)]
    if not points:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    from bot.render.chart import BG, BUY, GRID, MUTED, SELL, SPINE, TEXT

    colour = BUY if view.side == rules.BUY else SELL
    fig = Figure(figsize=(6.0, 2.0), dpi=100, facecolor=BG)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.2, 0.87, 0.65), facecolor=BG)
    days = [d for d, _ in points]
    values = [v / 100 for _, v in points]
    ax.bar(date2num(days), values, width=2.5, color=[colour if d == view.day else MUTED for d in days])
    ax.set_xlim(date2num(start), date2num(view.day + timedelta(days=7)))
    ax.xaxis_date()
    ax.set_title(f"{view.label}: {view.insider}, {view.verb} per day", color=TEXT, fontsize=9, loc="left")
    ax.tick_params(colors=MUTED, labelsize=7)
    ax.yaxis.set_major_formatter(lambda y, _pos: money(int(y * 100)))
    ax.grid(axis="y", color=GRID, linewidth=0.5)
    for spine in ax.spines.values():
        spine.set_color(SPINE)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=BG)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------- helpers


def _history_line(view: AlertView) -> str:
    record = f"record from {view.history_start.isoformat()}" if view.history_start else "record start unknown"
    window = ""
    if view.baseline_start:
        window = (f"; size compared with {view.baseline_days} {'purchase' if view.side == rules.BUY else 'sale'} "
                  f"day(s) {view.baseline_start.isoformat()}..{(view.day - timedelta(days=1)).isoformat()}")
    return f"-# History used: {view.label} filings stored, {record}{window}"


def _plan_text(view: AlertView) -> str:
    if view.sell_to_cover:
        return "sell-to-cover (tax)"
    if view.plan is True:
        return f"yes, adopted {view.plan_adoption_date.isoformat()}" if view.plan_adoption_date else "yes"
    if view.plan is False:
        return "no"
    return "not stated"


def _fit_lines(lines: list[str], limit: int) -> str:
    """Whole lines up to ``limit`` characters; the last kept line says how many were left out."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        if used + len(line) + 1 > limit - 20:
            out.append(f"… {len(lines) - i} more line(s)")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def finite_or_none(value: float) -> float | None:
    """JSON has no infinity: the 'everything' threshold (-inf) is stored as None."""
    return value if math.isfinite(value) else None
