"""The rules every number rests on, each written once.

- What counts as buying or selling: ``flow_side``.
- How a trade is valued: ``value_cents``.
- When a filing is late: ``filing_delay_business_days`` / ``LATE_AFTER_BUSINESS_DAYS``.
- How a 4/A supersedes: ``bot.store.filings.SUPERSEDE_SQL`` (it has to run as SQL over stored filings, so it
  lives beside the schema; this module documents it).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

BUY = "buy"
SELL = "sell"

CODE_MEANINGS: dict[str, str] = {
    "P": "open-market or private purchase",
    "S": "open-market or private sale",
    "A": "grant or award",
    "D": "disposition to the issuer",
    "F": "tax withholding / exercise payment",
    "M": "option exercise or conversion (exempt)",
    "C": "conversion of a derivative",
    "X": "exercise of an in-the-money derivative",
    "O": "exercise of an out-of-the-money derivative",
    "E": "expiration of a short derivative",
    "H": "expiration of a long derivative",
    "G": "gift",
    "L": "small acquisition",
    "W": "acquired by will or inheritance",
    "Z": "voting-trust deposit or withdrawal",
    "J": "other (see footnote)",
    "K": "equity swap",
    "I": "discretionary transaction",
    "U": "tender in a change of control",
    "V": "voluntarily reported early",
}


# The codes flow_side counts, and the same rule for SQL over stored rows (the store's queries use this,
# so "what counts as buying or selling" stays in this one module).
OPEN_MARKET_CODES = ("P", "S")


def open_market_sql(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    codes = ", ".join(f"'{c}'" for c in OPEN_MARKET_CODES)
    return f"{prefix}code IN ({codes}) AND {prefix}is_derivative = 0"


def code_meaning(code: str) -> str:
    return CODE_MEANINGS.get(code, f"unknown code {code!r}")


def flow_side(code: str, is_derivative: bool) -> str | None:
    """Open-market flow is code P (buy) and code S (sell) on non-derivative rows; nothing else counts.

    Grants, exercises, tax withholding, gifts and every derivative row are shown but never counted.
    """
    if is_derivative:
        return None
    if code == "P":
        return BUY
    if code == "S":
        return SELL
    return None


def value_cents(shares: float | None, price: float | None) -> int | None:
    """Dollar value of a row in integer cents; None when there is no price (never $0)."""
    if shares is None or price is None:
        return None
    return round(shares * price * 100)


# A Form 4 is due within two business days of the trade (deemed execution date when given).
LATE_AFTER_BUSINESS_DAYS = 2


@lru_cache(maxsize=65536)
def filing_delay_business_days(trade_day: date, filed_day: date) -> int:
    """Business days from the trade to EDGAR's filing date, skipping weekends and federal holidays."""
    if filed_day <= trade_day:
        return 0
    days = 0
    d = trade_day
    while d < filed_day:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in _federal_holidays(d.year):
            days += 1
    return days


def is_late(trade_day: date | None, filed_day: date | None, deemed_day: date | None = None) -> bool | None:
    start = deemed_day or trade_day
    if start is None or filed_day is None:
        return None
    return filing_delay_business_days(start, filed_day) > LATE_AFTER_BUSINESS_DAYS


@lru_cache(maxsize=64)
def _federal_holidays(year: int) -> frozenset[date]:
    def nth_weekday(month: int, weekday: int, n: int) -> date:
        d = date(year, month, 1)
        d += timedelta(days=(weekday - d.weekday()) % 7)
        return d + timedelta(weeks=n - 1)

    def last_weekday(month: int, weekday: int) -> date:
        d = date(year, month + 1, 1) - timedelta(days=1)
        return d - timedelta(days=(d.weekday() - weekday) % 7)

    def observed(d: date) -> date:
        # Saturday holidays are observed on Friday, Sunday ones on Monday.
        return d - timedelta(days=1) if d.weekday() == 5 else d + timedelta(days=1) if d.weekday() == 6 else d

    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2021:
        fixed.append(date(year, 6, 19))
    days = {observed(d) for d in fixed}
    days |= {
        nth_weekday(1, 0, 3),  # Martin Luther King Jr. Day
        nth_weekday(2, 0, 3),  # Washington's Birthday
        last_weekday(5, 0),  # Memorial Day
        nth_weekday(9, 0, 1),  # Labor Day
        nth_weekday(10, 0, 2),  # Columbus Day
        nth_weekday(11, 3, 4),  # Thanksgiving
    }
    return frozenset(days)


ROLE_ORDER = ("CEO", "CFO", "President", "Chair", "COO", "Director", "Officer", "10% owner", "Other")


def roles_of(
    is_director: bool, is_officer: bool, is_ten_percent_owner: bool, is_other: bool, officer_title: str | None
) -> list[str]:
    """Short role labels, most senior first (CEO, CFO, President, Chair ... as the title says)."""
    roles: list[str] = []
    title = (officer_title or "").strip()
    low = title.lower()
    if is_officer or title:
        if "chief executive" in low or "ceo" in low.replace(".", "").split() or low.startswith("ceo"):
            roles.append("CEO")
        if "chief financial" in low or "cfo" in low.replace(".", "").split():
            roles.append("CFO")
        if "president" in low and "vice president" not in low:
            roles.append("President")
        if "chair" in low:
            roles.append("Chair")
        if "chief operating" in low or "coo" in low.split():
            roles.append("COO")
        if not roles:
            roles.append(title if title and len(title) <= 24 else "Officer")
    if is_director:
        roles.append("Director")
    if is_ten_percent_owner:
        roles.append("10% owner")
    if is_other and not roles:
        roles.append("Other")
    return roles


def plan_flag(aff10b5one: bool | None, row_has_plan_footnote: bool, filing_has_plan_footnote: bool) -> bool | None:
    """Whether a row was done under a Rule 10b5-1 plan: True, False, or None (unknown).

    The checkbox is one per document and names no rows. A footnote names rows. So: a row whose footnote
    cites a plan is a plan row; when the box is ticked and no footnote says which rows, every row is; when
    the box is unticked, a row without a plan footnote is not; without a box (before 2023) and without a
    footnote we do not know.
    """
    if row_has_plan_footnote:
        return True
    if aff10b5one is True:
        return not filing_has_plan_footnote
    if aff10b5one is False:
        return False
    return None
