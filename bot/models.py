"""Domain records shared by parsing, storage and analysis.

Float policy: share counts and prices are kept as the filer reported them (at most a few decimals, which a
float holds exactly enough for display). Dollar values are computed once, in ``bot.rules.value_cents``, as
integer cents, and every total is a sum of those integers, so sums never drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Owner:
    """One reporting owner of a filing. An insider is their CIK, whatever the spelling of the name."""

    cik: int
    name: str
    is_director: bool = False
    is_officer: bool = False
    is_ten_percent_owner: bool = False
    is_other: bool = False
    officer_title: str | None = None
    other_text: str | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    """One row of the non-derivative or derivative table, footnotes resolved to their text."""

    seq: int
    is_derivative: bool
    security_title: str
    transaction_date: date | None
    code: str
    acquired_disposed: str | None  # "A" or "D"
    shares: float | None
    price: float | None  # None means "no price" (gift, grant, footnote-only): never $0
    shares_owned_after: float | None
    direct_indirect: str | None  # "D" or "I"
    ownership_nature: str | None = None  # e.g. "By Trust"
    deemed_execution_date: date | None = None
    timeliness: str | None = None  # "E" early, "L" late, as the filer marked it
    equity_swap: bool | None = None
    footnotes: tuple[str, ...] = ()
    # Read from the footnotes of this row (the only evidence of a plan before 2023):
    plan_footnote: bool = False
    plan_adoption_date: date | None = None
    sell_to_cover: bool = False
    private_from_issuer: bool = False
    weighted_average_price: bool = False
    # Derivative rows only:
    conversion_or_exercise_price: float | None = None
    exercise_date: date | None = None
    expiration_date: date | None = None
    underlying_title: str | None = None
    underlying_shares: float | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    """A position reported without a trade (``nonDerivativeHolding`` / ``derivativeHolding``)."""

    seq: int
    is_derivative: bool
    security_title: str
    shares_owned: float | None
    direct_indirect: str | None
    ownership_nature: str | None = None
    footnotes: tuple[str, ...] = ()
    # Derivative holdings only (options, warrants, convertibles held; a Form 3 often gives no count of the
    # derivative itself, only the underlying shares):
    conversion_or_exercise_price: float | None = None
    exercise_date: date | None = None
    expiration_date: date | None = None
    underlying_title: str | None = None
    underlying_shares: float | None = None


@dataclass(frozen=True, slots=True)
class Filing:
    """One ownership document (Form 3, 4, 4/A, 5) with where and when it was filed, when known.

    ``accession`` is EDGAR's accession number (``0000899243-21-044060``) when the path, the SGML header or
    the feed gave it; otherwise ``sha256:<hex>`` of the document and ``accession_known`` is False.
    ``accepted_at`` is EDGAR's acceptance time in UTC, or None when unknown (a bare XML file).
    """

    accession: str
    accession_known: bool
    document_type: str  # "4", "4/A", "3", "5", ...
    schema_version: str | None
    period_of_report: date | None
    date_of_original_submission: date | None
    issuer_cik: int
    issuer_name: str
    ticker: str | None
    owners: tuple[Owner, ...]
    transactions: tuple[Transaction, ...]
    holdings: tuple[Holding, ...] = ()
    aff10b5one: bool | None = None  # None: the box is absent (before 2023), which means unknown
    remarks: str | None = None
    not_subject_to_section16: bool | None = None
    accepted_at: datetime | None = None
    filed_date: date | None = None  # EDGAR's filing date (Eastern), which counts for the deadline
    footnotes: dict[str, str] = field(default_factory=dict)

    @property
    def is_amendment(self) -> bool:
        return self.document_type.endswith("/A")

    @property
    def group_key(self) -> str:
        """The filer group: a joint filing's owners together count as one insider."""
        return ",".join(str(c) for c in sorted({o.cik for o in self.owners}))


class ParseError(ValueError):
    """A document that is not a usable ownership filing; the message says why, for the quarantine."""
