"""Periods users type (1w, 1m, 3m, 6m, 1y, 2y, 5y, ytd, all, or a date) to transaction-date ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

PERIOD_CHOICES: dict[str, str] = {
    "1w": "in the last week",
    "1m": "in the last month",
    "3m": "in the last 3 months",
    "6m": "in the last 6 months",
    "1y": "in the last year",
    "2y": "in the last 2 years",
    "5y": "in the last 5 years",
    "ytd": "this year to date",
    "all": "over all stored history",
}

_DAYS = {"1w": 7, "1m": 31, "3m": 92, "6m": 183, "1y": 365, "2y": 730, "5y": 1826}


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    since: date | None
    until: date | None
    label: str


def parse_day(text: str) -> date:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise PeriodError(f"'{text[:30]}' is not a date: use YYYY-MM-DD, e.g. 2024-03-01") from None


def parse_period(text: str | None, today: date, *, until: str | None = None) -> Period:
    """A period choice or a start date (YYYY-MM-DD); until defaults to today."""
    end = parse_day(until) if until else today
    key = (text or "all").strip().lower()
    if key in ("all", ""):
        return Period(None, end if until else None, PERIOD_CHOICES["all"])
    if key == "ytd":
        return Period(date(end.year, 1, 1), end, f"since {end.year}-01-01")
    if key in _DAYS:
        return Period(end - timedelta(days=_DAYS[key]), end, PERIOD_CHOICES[key])
    start = parse_day(key)
    if start > end:
        raise PeriodError(f"the start date {start} is after the end date {end}")
    label = f"from {start.isoformat()} to {end.isoformat()}" if until else f"since {start.isoformat()}"
    return Period(start, end, label)
