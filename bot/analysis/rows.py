"""The shapes analysis works on: stored rows as the store hands them out (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class TradeRow:
    accession: str
    accession_known: bool
    document_type: str
    accepted_at: datetime | None
    filed_date: date | None
    issuer_cik: int
    ticker: str | None
    group_key: str
    seq: int
    is_derivative: bool
    security_title: str
    transaction_date: date | None
    deemed_execution_date: date | None
    code: str
    acquired_disposed: str | None
    shares: float | None
    price: float | None
    value_cents: int | None
    shares_owned_after: float | None
    direct_indirect: str | None
    ownership_nature: str | None
    plan_flag: bool | None
    plan_adoption_date: date | None
    sell_to_cover: bool
    private_from_issuer: bool
    weighted_average_price: bool
    footnotes: tuple[str, ...] = ()
    date_of_original_submission: date | None = None  # for a 4/A: when the amended trades were first filed

    @property
    def first_reported(self) -> date | None:
        """The filing date that counts for the two-day deadline: a 4/A's trades were reported on time or
        late by the original, not by the amendment."""
        return self.date_of_original_submission or self.filed_date

    @property
    def late(self) -> bool | None:
        from bot.rules import is_late

        return is_late(self.transaction_date, self.first_reported, self.deemed_execution_date)


@dataclass(frozen=True, slots=True)
class HoldingRow:
    accession: str
    accepted_at: datetime | None
    period_of_report: date | None
    issuer_cik: int
    group_key: str
    security_title: str
    shares_owned: float | None
    direct_indirect: str | None
    ownership_nature: str | None


@dataclass(frozen=True, slots=True)
class FilerGroup:
    """A filer group: the owners of one filing together (a fund, its GP and its manager count once)."""

    key: str
    names: tuple[str, ...]
    owner_ciks: tuple[int, ...]
    roles: tuple[str, ...] = field(default=())

    @property
    def display_name(self) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return f"{self.names[0]} (+{len(self.names) - 1} joint filers)"


@dataclass(frozen=True, slots=True)
class IssuerHistory:
    issuer_cik: int
    issuer_name: str
    ticker: str | None
    rows: tuple[TradeRow, ...]
    holdings: tuple[HoldingRow, ...]
    groups: dict[str, FilerGroup]
    as_of: datetime
    newest_acceptance: datetime | None
    unknown_time_filings: int
    derived: dict = field(default_factory=dict, compare=False, repr=False)  # memoised analysis results
