"""The transport-neutral reply: what the core answers, before Discord or the terminal draws it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

DISCLAIMER = "Not investment advice. Data: SEC EDGAR Form 4 filings."


@dataclass(frozen=True)
class ReplyField:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[str, ...] = ()  # "<" or ">" per column; numbers right-aligned
    title: str = ""


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Chart:
    png: bytes
    filename: str = "chart.png"


@dataclass
class Reply:
    title: str
    description: str = ""
    fields: list[ReplyField] = field(default_factory=list)
    table: Table | None = None
    notes: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    chart: Chart | None = None
    tone: str = "neutral"  # "sell", "buy", "neutral", "error"
    as_of: str = ""
    url: str | None = None
    ephemeral: bool = False
    data: dict | None = None  # machine-readable form for --json

    @property
    def footer(self) -> str:
        parts = [self.as_of] if self.as_of else []
        parts.append(DISCLAIMER)
        return " · ".join(parts)


def error_reply(message: str, *, hint: str = "") -> Reply:
    return Reply(title="Sorry", description=message + (f"\n{hint}" if hint else ""), tone="error", ephemeral=True)


def money(cents: int | None, *, signed: bool = False) -> str:
    """$1.23B / $45.6M / $789K / $512: short enough for a phone-width table."""
    if cents is None:
        return "n/a"
    dollars = cents / 100
    sign = "-" if dollars < 0 else ("+" if signed and dollars > 0 else "")
    v = abs(dollars)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            text = f"{v / limit:.2f}".rstrip("0").rstrip(".") if v / limit < 100 else f"{v / limit:.0f}"
            return f"{sign}${text}{suffix}"
    return f"{sign}${v:,.0f}"


def shares_text(shares: float | None) -> str:
    if shares is None:
        return "n/a"
    v = abs(shares)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            return f"{shares / limit:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{shares:,.0f}" if shares == int(shares) else f"{shares:,.2f}"


def percent(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    p = ratio * 100
    return f"{p:.2f}%" if p < 10 else f"{p:.1f}%" if p < 100 else f"{p:.0f}%"


def as_of_line(newest: datetime | None, unknown_time: int = 0) -> str:
    if newest is None:
        text = "Data as of: filing times unknown (bare XML documents)"
    else:
        text = f"Data as of {newest.strftime('%Y-%m-%d %H:%M UTC')} (newest acceptance)"
    if unknown_time:
        text += f"; {unknown_time} filing(s) with unknown filing time"
    return text


def filing_url(issuer_cik: int, accession: str) -> str | None:
    """EDGAR's index page of a filing; None for a document known only by its content hash."""
    if accession.startswith("sha256:"):
        return None
    return f"https://www.sec.gov/Archives/edgar/data/{issuer_cik}/{accession.replace('-', '')}/{accession}-index.htm"


def day_text(d: date | None) -> str:
    return d.isoformat() if d else "n/a"


def duration_text(delta: timedelta | None) -> str:
    """'45 s', '12 min', '5 h', '3 d': how long ago or how late, for status lines."""
    if delta is None:
        return "unknown"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
