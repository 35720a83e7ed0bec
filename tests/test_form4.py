"""The Form 3/4/5 parser on real EDGAR filings (tests/fixtures/sec/).

Every expected value below was read off the filing itself (the XML, the SGML header), not from the parser.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.models import Filing, ParseError
from bot.sec.form4 import parse_document, parse_ownership_xml, parse_sgml_submission

SEC = Path(__file__).parent / "fixtures" / "sec"
FORM4 = sorted((SEC / "form4").glob("*.xml"))
FORM3_5 = sorted((SEC / "form3_5").glob("*.xml"))
SGML = sorted((SEC / "sgml").iterdir())


def form4(name: str) -> Filing:
    path = SEC / "form4" / name
    return parse_document(path.read_bytes(), source=str(path))


def form3_5(name: str) -> Filing:
    path = SEC / "form3_5" / name
    return parse_document(path.read_bytes(), source=str(path))


def sgml(name: str) -> Filing:
    path = SEC / "sgml" / name
    return parse_sgml_submission(path.read_bytes(), source=str(path))


# ------------------------------------------------------------------------------------------- the corpus


def test_the_corpus_is_all_there() -> None:
    assert len(FORM4) == 351
    assert len(FORM3_5) == 28
    assert len(SGML) == 9


@pytest.mark.parametrize("path", FORM4, ids=lambda p: p.name)
def test_every_form4_in_the_corpus_parses(path: Path) -> None:
    filing = parse_document(path.read_bytes(), source=path.name)
    assert filing.document_type == "4"
    assert filing.issuer_cik > 0
    assert filing.owners and all(o.cik > 0 for o in filing.owners)
    assert filing.accepted_at is None  # a bare XML never says when EDGAR accepted it
    for t in filing.transactions:
        assert t.code and t.code == t.code.upper()
        assert t.price is None or t.price > 0
        assert t.acquired_disposed in ("A", "D")
    # Files named TICKER_ACCESSION_DOC.xml carry their accession; the rest get a content hash.
    named = re.search(r"_(\d{10}-\d{2}-\d{6})[_.]", path.name)
    if named:
        assert filing.accession == named.group(1) and filing.accession_known
    else:
        assert filing.accession.startswith("sha256:") and not filing.accession_known


@pytest.mark.parametrize("path", FORM3_5, ids=lambda p: p.name)
def test_every_form3_and_form5_parses(path: Path) -> None:
    filing = parse_document(path.read_bytes(), source=path.name)
    assert filing.document_type in ("3", "5")
    assert filing.issuer_cik > 0 and filing.owners


# ------------------------------------------------------------------------------ Musk, 2021-11-08 sale wave


def test_musk_first_filing_of_the_day() -> None:
    f = form4("TSLA_0000899243-21-044060_doc4.xml")
    assert f.accession == "0000899243-21-044060" and f.accession_known
    assert (f.document_type, f.schema_version, f.period_of_report) == ("4", "X0306", date(2021, 11, 8))
    assert (f.issuer_cik, f.issuer_name, f.ticker) == (1318605, "Tesla, Inc.", "TSLA")
    assert f.not_subject_to_section16 is False
    assert f.aff10b5one is None  # schema X0306 predates the checkbox: unknown, not "no"
    (musk,) = f.owners
    assert (musk.cik, musk.name, musk.officer_title) == (1494730, "Musk Elon", "CEO")
    assert musk.is_director and musk.is_officer and musk.is_ten_percent_owner and not musk.is_other
    assert f.remarks is not None and f.remarks.startswith("This Form 4 is the first of two Form 4s")
    assert sorted(f.footnotes) == sorted(f"F{i}" for i in range(1, 28))

    table1 = [t for t in f.transactions if not t.is_derivative]
    assert len(table1) == 30
    assert [t.seq for t in table1] == list(range(1, 31))
    first = table1[0]
    assert (first.code, first.shares, first.price, first.acquired_disposed) == ("M", 2154572, 6.24, "A")
    assert first.shares_owned_after == 2154572 and first.direct_indirect == "D"
    assert first.transaction_date == date(2021, 11, 8)
    assert first.sell_to_cover is False  # F1 only: the plan, not the tax
    assert [t.code for t in table1[1:]] == ["S"] * 29

    second = table1[1]
    assert (second.shares, second.price, second.shares_owned_after) == (1100, 1135.05, 2153472)
    assert second.footnotes == (f.footnotes["F1"], f.footnotes["F2"])  # coding's F1 comes before shares' F2
    assert second.plan_footnote and second.plan_adoption_date == date(2021, 9, 14)  # "SEPTEMBER  14, 2021"
    assert second.sell_to_cover  # F2: "sold solely to satisfy the reporting person's tax withholding ..."
    assert not second.weighted_average_price and not second.private_from_issuer

    fourth = table1[3]  # 2,300 @ 1139.487, F3: "The price reported in Column 4 is a weighted average price"
    assert (fourth.shares, fourth.price) == (2300, 1139.487)
    assert fourth.weighted_average_price
    assert fourth.footnotes[-1].startswith("The price reported in Column 4 is a weighted average price.")
    assert sum(t.weighted_average_price for t in table1) == 23  # F3..F25, one per row
    assert all(t.plan_footnote and t.plan_adoption_date == date(2021, 9, 14) for t in table1)
    assert sum(t.sell_to_cover for t in table1) == 29  # every S row cites F2

    (option,) = [t for t in f.transactions if t.is_derivative]
    assert option.seq == 1
    assert option.security_title == "Non-Qualifed Stock Option (right to buy)"  # sic
    assert (option.code, option.acquired_disposed, option.shares) == ("M", "D", 2154572)
    assert option.price is None  # written 0.00
    assert option.conversion_or_exercise_price == 6.24
    assert option.exercise_date is None  # only footnotes F26/F27
    assert option.expiration_date == date(2022, 8, 13)
    assert (option.underlying_title, option.underlying_shares) == ("Common Stock", 2154572)
    assert option.shares_owned_after == 23344933


def test_musk_second_filing_of_the_day_with_the_trust_holding() -> None:
    f = form4("TSLA_0000899243-21-044077_doc4.xml")
    assert f.accession == "0000899243-21-044077"
    assert len(f.transactions) == 20 and all(t.code == "S" and not t.is_derivative for t in f.transactions)
    first = f.transactions[0]
    assert (first.shares, first.price) == (8202, 1176.585)
    assert first.sell_to_cover and first.plan_footnote and first.weighted_average_price
    (trust,) = f.holdings
    assert trust.seq == 1 and not trust.is_derivative
    assert (trust.security_title, trust.shares_owned) == ("Common Stock", 170492985)
    assert (trust.direct_indirect, trust.ownership_nature) == ("I", "by Trust")
    assert trust.footnotes == (
        "The Elon Musk Revocable Trust dated July 22, 2003, for which the reporting person is trustee.",
    )
    assert f.remarks is not None and "second of two Form 4s" in f.remarks


def test_partial_sell_to_cover_is_not_flagged() -> None:
    # F2: "sold solely to satisfy the reporting person's tax withholding obligations" (15 rows);
    # F3: "sold partially to satisfy ..." (14 rows): part of those sales was a choice, so no flag.
    f = form4("TSLA_0000899243-21-049992_doc4.xml")
    solely, partially = f.footnotes["F2"], f.footnotes["F3"]
    assert "solely" in solely and "partially" in partially
    sales = [t for t in f.transactions if t.code == "S"]
    assert len([t for t in sales if solely in t.footnotes]) == 15
    assert all(t.sell_to_cover for t in sales if solely in t.footnotes)
    assert len([t for t in sales if partially in t.footnotes]) == 14
    assert not any(t.sell_to_cover for t in sales if partially in t.footnotes)
    assert all(t.plan_footnote for t in sales)


def test_a_denied_sale_is_not_a_sell_to_cover() -> None:
    # "No shares were sold by the reporting person to generate funds to pay the exercise price or underlying tax"
    f = form4("TSLA_0001494730-19-000002_edgardoc.xml")
    assert [t.code for t in f.transactions] == ["M", "M"]
    assert not any(t.sell_to_cover for t in f.transactions)


def test_sell_to_cover_by_the_issuer_on_a_withholding_row() -> None:
    # F2: "Represents a withholding tax-related nondiscretionary sell-to-cover transaction"; F3 weighted average.
    f = form4("MVIS_0001493152-26-028198.xml")
    (row,) = [t for t in f.transactions if t.code == "F"]
    assert (row.shares, row.price, row.transaction_date) == (77905, 0.3621, date(2026, 6, 10))
    assert row.sell_to_cover and row.weighted_average_price


def test_shares_withheld_for_tax_are_not_a_sale() -> None:
    # AMD F row, F1: "The shares are withheld at the election of the Reporting Person to satisfy tax ..."
    f = form4("AMD_0000002488-24-000005_wk-form4_1705525913.xml")
    (row,) = [t for t in f.transactions if t.code == "F"]
    assert (row.shares, row.price, row.shares_owned_after) == (189, 146.56, 5887)
    assert not row.sell_to_cover


# ------------------------------------------------------------------------------------------ joint filings


def test_joint_filing_has_four_owners_and_one_set_of_rows() -> None:
    f = form4("ADGI_0001209191-21-051298_doc4.xml")
    assert [(o.cik, o.name) for o in f.owners] == [
        (1669609, "MITHRIL II LP"),
        (1878232, "Mithril II GP LP"),
        (1878230, "Mithril II UGP LLC"),
        (1211060, "THIEL PETER"),
    ]
    assert all(o.is_ten_percent_owner and not o.is_director for o in f.owners)
    assert f.group_key == "1211060,1669609,1878230,1878232"
    assert [(t.is_derivative, t.seq, t.code) for t in f.transactions] == [
        (False, 1, "C"),
        (False, 2, "P"),
        (True, 1, "C"),
        (True, 2, "C"),
        (True, 3, "C"),
    ]
    purchase = f.transactions[1]
    assert (purchase.shares, purchase.price, purchase.shares_owned_after) == (1997000, 17.0, 11241580)
    assert not purchase.private_from_issuer  # F2 only says who holds the shares
    series_a = f.transactions[2]
    assert series_a.security_title == "Series A Preferred Stock"
    assert (series_a.underlying_title, series_a.underlying_shares) == ("Common Stock", 6250000)


def test_linkedin_owner_and_trust_file_jointly() -> None:
    f = form4("LNKD_0001209191-12-022044_doc4.xml")
    assert [o.cik for o in f.owners] == [1519339, 1521103]
    assert f.owners[1].name == "Reid Hoffman & Michelle Yee Living Trust"


# ------------------------------------------------------------------------------------ Rule 10b5-1 checkbox


@pytest.mark.parametrize(
    "name",
    [
        "DKNG_0001104659-25-025206_tm259698-1_4seq1.xml",
        "META_olivan_indirect_10b5-1.xml",
        "RUM_0001062993-24-008173_form4.xml",
    ],
)
def test_checkbox_ticked(name: str) -> None:
    assert form4(name).aff10b5one is True


@pytest.mark.parametrize(
    "name",
    [
        "AIR_0001127602-25-001055.xml",  # <aff10b5One>0</aff10b5One>
        "AREC_golden_properties_tz_suffix_date.xml",  # false
        "SCWO_374WaterForm4.xml",  # false
        "TSVT_0001562180-25-000280.xml",  # false
    ],
)
def test_checkbox_unticked(name: str) -> None:
    assert form4(name).aff10b5one is False


def test_checkbox_absent_before_2023_is_unknown() -> None:
    assert form4("MSFT_0001062993-22-023641_form4.xml").aff10b5one is None


def test_plan_footnotes_and_their_adoption_dates() -> None:
    dkng = form4("DKNG_0001104659-25-025206_tm259698-1_4seq1.xml")
    # F1: "... a pre-arranged program for selling shares of Class A Common Stock adopted on December 13, 2024
    # pursuant to Rule 10b5-1 ..."
    assert [(t.shares, t.plan_footnote, t.plan_adoption_date) for t in dkng.transactions] == [
        (49252, True, date(2024, 12, 13)),
        (3525, True, date(2024, 12, 13)),
        (52777, True, date(2024, 12, 13)),
    ]
    meta = form4("META_olivan_indirect_10b5-1.xml")
    assert meta.issuer_cik == 1326801 and meta.ticker == "META"
    assert len(meta.transactions) == 5
    assert all(t.plan_adoption_date == date(2025, 11, 17) for t in meta.transactions)  # "adopted by ... on"
    assert [t.ownership_nature for t in meta.transactions] == [
        None,
        "By Olivan D LLC",
        "By Olivan Reinhold D LLC",
        "By Reinhold D LLC",
        "By Olivan Reinhold Family Revocable Trust u/a/d 10/16/12",
    ]
    rum = form4("RUM_0001062993-24-008173_form4.xml")
    assert all(t.plan_adoption_date == date(2023, 12, 15) for t in rum.transactions)  # "plans adopted on"
    # F7: "This transaction was made pursuant to a Rule 10b5-1 trading plan adopted by the reporting person's
    # trust on February 26, 2019." (the S rows); the M and F rows cite no plan.
    cook = form4("AAPL_wf-form4_156694501621463.xml")
    assert [
        (t.code, t.plan_footnote, t.plan_adoption_date) for t in cook.transactions if not t.is_derivative
    ] == [
        ("M", False, None),
        ("F", False, None),
        ("S", True, date(2019, 2, 26)),
        ("S", True, date(2019, 2, 26)),
        ("S", True, date(2019, 2, 26)),
    ]
    # F8-F10: "executed in multiple trades at prices ranging from ...; ... the weighted average sale price"
    assert [t.weighted_average_price for t in cook.transactions if t.code == "S"] == [True, True, True]
    apple = form4("AAPL_0000320193-22-000061.xml")
    assert all(t.plan_adoption_date == date(2021, 8, 16) for t in apple.transactions)


def test_a_plan_without_a_date_has_no_adoption_date() -> None:
    # "Shares were sold pursuant to a duly adopted 10b5-1 trading plan entered into in accordance with the
    # Issuer's insider trading policy. The plan provides for periodic sales ..."
    f = form4("LNKD_0001209191-12-014199_doc4.xml")
    sales = [t for t in f.transactions if t.code == "S"]
    assert len(sales) == 3
    assert all(t.plan_footnote and t.plan_adoption_date is None for t in sales)
    assert not any(t.plan_footnote for t in f.transactions if t.code == "C")


def test_plan_stated_in_remarks_covers_the_sales_only() -> None:
    # Remarks: "All transactions reported in this Form 4 were effected pursuant to a Rule 10b5-1 Trading Plan
    # adopted by the Reporting Person." No row footnote mentions the plan; the C rows are conversions.
    f = form4("GOOG_0001209191-22-024550_doc4.xml")
    sales = [t for t in f.transactions if t.code == "S"]
    conversions = [t for t in f.transactions if t.code == "C"]
    assert len(sales) == 29 and len(conversions) == 2
    assert all(t.plan_footnote and t.plan_adoption_date is None for t in sales)
    assert not any(t.plan_footnote for t in conversions)


# -------------------------------------------------------------------------------------------- prices


def test_gift_written_at_zero_has_no_price() -> None:
    # No G row in the corpus leaves the price out: filers write 0 (here "0.0"). A $0 is "no price".
    f = form4("TSLA_0001494730-19-000003_edgardoc.xml")
    (gift,) = f.transactions
    assert (gift.code, gift.shares, gift.acquired_disposed) == ("G", 17000, "D")
    assert gift.price is None
    assert (gift.direct_indirect, gift.ownership_nature) == ("I", "by Trust")


def test_price_given_only_in_a_footnote_is_no_price() -> None:
    # CMMB: the price element holds footnote F3 only ("... for a combined price of $17.3509 per unit").
    f = form4("CMMB_0001209191-21-021966_doc4.xml")
    stock, warrant = f.transactions
    assert (stock.code, stock.shares, stock.price) == ("P", 230536, None)
    # F1: "The purchase reported herein was made in a private placement transaction entered into directly with
    # the Issuer."
    assert stock.private_from_issuer
    assert warrant.is_derivative and warrant.price is None and warrant.private_from_issuer
    assert warrant.conversion_or_exercise_price == 17.3509
    assert (warrant.exercise_date, warrant.expiration_date) == (date(2021, 3, 17), date(2026, 3, 17))


@pytest.mark.parametrize(
    ("name", "private"),
    [
        # "... in a private placement transaction with the issuer."
        ("TSLA_0001494730-11-000006_edgardoc.xml", True),
        # "... in a registered common stock offering by the issuer ..."
        ("TSLA_0001494730-12-000005_edgardoc.xml", True),
        # "... purchased directly from the issuing company in a private placement ..."
        ("TSLA_0001494730-13-000004_edgardoc.xml", True),
        # "... at the public offering price in a registered common stock offering by the issuer ..."
        ("TSLA_0001494730-19-000001_edgardoc.xml", True),
        # "The transactions reported on this Form 4 are open market purchases of Tesla Common Stock ..."
        ("TSLA_0001494730-18-000006_edgardoc.xml", False),
    ],
)
def test_purchases_from_the_issuer(name: str, private: bool) -> None:
    purchases = [t for t in form4(name).transactions if t.code == "P"]
    assert purchases and all(t.private_from_issuer is private for t in purchases)


def test_weighted_average_said_only_as_a_price_range() -> None:
    # GOOG 2015: F2 says "weighted average price"; F3..F18 only "sold in multiple transactions at prices ranging".
    f = form4("GOOG_0001127602-15-028697_form4.xml")
    sales = [t for t in f.transactions if t.code == "S"]
    assert len(sales) == 17 and all(t.weighted_average_price for t in sales)


def test_volume_weighted_grant_sizing_is_not_a_weighted_average_price() -> None:
    # F1: "The number of shares was calculated based on the 60-day volume-weighted average share price ..."
    f = form4("MDB_0001441816-20-000159_wf-form4_159477258109997.xml")
    grant = f.transactions[0]
    assert (grant.code, grant.shares, grant.price) == ("A", 189, 202.02)
    assert not grant.weighted_average_price
    assert f.transactions[1].price is None  # the RSU grant is written at 0
    (holding,) = f.holdings
    assert (holding.shares_owned, holding.ownership_nature) == (240677, "By Estate Planning Vehicles")


# ---------------------------------------------------------------------------------------- odd formats


def test_timezone_suffixed_dates_keep_the_calendar_day() -> None:
    f = form4("AREC_golden_properties_tz_suffix_date.xml")  # <value>2024-07-19-05:00</value>
    assert f.period_of_report == date(2024, 7, 19)
    (row,) = f.transactions
    assert row.transaction_date == date(2024, 7, 19)
    # As filed: code P with A/D code D (the filer's inconsistency is kept, not corrected).
    assert (row.code, row.acquired_disposed, row.shares, row.price) == ("P", "D", 800000, 0.67)
    assert f.not_subject_to_section16 is False
    assert f.owners[0].is_ten_percent_owner and not f.owners[0].is_director  # written true/false


def test_document_collapsed_onto_one_line() -> None:
    f = form4("AMD_0000002488-24-000005_wk-form4_1705525913.xml")
    assert (f.issuer_cik, f.ticker) == (2488, "AMD")
    (owner,) = f.owners
    assert owner.is_other and owner.other_text == "Chief Accounting Officer" and owner.officer_title is None
    assert [(t.code, t.shares) for t in f.transactions] == [("M", 472), ("F", 189), ("M", 472)]
    assert f.footnotes["F1"].startswith("The shares are withheld at the election of the Reporting Person")


@pytest.mark.parametrize("name", [p.name for p in FORM4 if p.name.startswith(("FB_", "META_"))])
def test_facebook_and_meta_are_one_issuer(name: str) -> None:
    f = form4(name)
    assert f.issuer_cik == 1326801
    assert f.ticker == ("META" if name.startswith("META_") else "FB")


def test_ticker_with_a_dot_is_kept() -> None:
    assert form3_5("MFAC-U_0001213900-18-011670_ownership.xml").ticker == "MFAC.U"


# ----------------------------------------------------------------------------------- where and when


def test_sgml_txt_gives_accession_acceptance_and_filing_date() -> None:
    f = sgml("AAPL_0000320193-22-000061.txt")
    assert f.accession == "0000320193-22-000061" and f.accession_known
    # <ACCEPTANCE-DATETIME>20220506183057: 18:30:57 Eastern (EDT, UTC-4)
    assert f.accepted_at == datetime(2022, 5, 6, 22, 30, 57, tzinfo=UTC)
    assert f.accepted_at.utcoffset() == timedelta(0)
    assert f.filed_date == date(2022, 5, 6)  # FILED AS OF DATE: 20220506
    assert f.issuer_cik == 320193 and f.owners[0].cik == 1462356
    # The same document as the standalone XML in the corpus.
    assert f.transactions == form4("AAPL_0000320193-22-000061.xml").transactions


def test_sgml_accepted_in_the_evening_is_the_next_utc_day_but_the_same_filing_date() -> None:
    f = sgml("JBLU_0001158463-25-000044.txt")  # 20250312215740, EDT since 2025-03-09
    assert f.accepted_at == datetime(2025, 3, 13, 1, 57, 40, tzinfo=UTC)
    assert f.filed_date == date(2025, 3, 12)


def test_sgml_in_winter_is_five_hours_behind_utc() -> None:
    f = sgml("AIR_0001127602-25-001055.txt")  # 20250110160730, EST
    assert f.accepted_at == datetime(2025, 1, 10, 21, 7, 30, tzinfo=UTC)


def test_nc_dissemination_file_with_tag_header() -> None:
    # <ACCESSION-NUMBER>0001127602-25-004598 ... <FILING-DATE>20250213, CR line ends, no acceptance time in it.
    f = sgml("ARW_0001127602-25-004598.nc")
    assert f.accession == "0001127602-25-004598" and f.accession_known
    assert f.filed_date == date(2025, 2, 13)
    assert f.accepted_at is None  # the .nc header carries none: never invent one
    assert (f.issuer_cik, f.ticker) == (7536, "ARW")
    assert [(t.code, t.shares, t.price) for t in f.transactions] == [("A", 2193, 106.82), ("F", 1009, 106.82)]


@pytest.mark.parametrize("path", SGML, ids=lambda p: p.name)
def test_every_sgml_submission_parses_through_the_sniffer(path: Path) -> None:
    f = parse_document(path.read_bytes(), source=str(path))
    assert f.accession == path.stem.split("_", 1)[1]
    assert f.filed_date is not None
    assert (f.accepted_at is None) == (path.suffix == ".nc")


@pytest.mark.parametrize(
    "source",
    [
        "https://www.sec.gov/Archives/edgar/data/1318605/000089924321044060/doc4.xml",
        "/data/edgar/1318605/000089924321044060/doc4.xml",
        "TSLA_0000899243-21-044060_doc4.xml",
        "C:\\edgar\\0000899243-21-044060.txt",
    ],
)
def test_accession_from_the_source_path(source: str) -> None:
    data = (SEC / "form4" / "TSLA_0000899243-21-044060_doc4.xml").read_bytes()
    f = parse_ownership_xml(data, source=source)
    assert f.accession == "0000899243-21-044060" and f.accession_known


def test_unknown_accession_is_the_content_hash() -> None:
    data = (SEC / "form4" / "SNOW_form4.snow.xml").read_bytes()
    a = parse_ownership_xml(data, source="SNOW_form4.snow.xml")
    b = parse_ownership_xml(data)
    assert a.accession == b.accession and a.accession.startswith("sha256:") and len(a.accession) == 7 + 64
    assert not a.accession_known


def test_explicit_accession_and_times_win() -> None:
    data = (SEC / "form4" / "SNOW_form4.snow.xml").read_bytes()
    eastern = timezone(timedelta(hours=-5))
    f = parse_ownership_xml(
        data,
        accession="000123456724000001",
        accepted_at=datetime(2024, 1, 2, 16, 5, tzinfo=eastern),
        filed_date=date(2024, 1, 2),
    )
    assert f.accession == "0001234567-24-000001" and f.accession_known
    assert f.accepted_at == datetime(2024, 1, 2, 21, 5, tzinfo=UTC) and f.accepted_at.tzinfo is UTC
    assert f.filed_date == date(2024, 1, 2)


def test_naive_acceptance_time_is_refused() -> None:
    data = (SEC / "form4" / "SNOW_form4.snow.xml").read_bytes()
    with pytest.raises(ParseError, match="timezone-aware"):
        parse_ownership_xml(data, accepted_at=datetime(2024, 1, 2, 16, 5))


# --------------------------------------------------------------------------------------- forms 3 and 5


def test_form3_holdings_with_derivatives() -> None:
    f = form3_5("ABCL_0000899243-20-033648_doc3.xml")
    assert f.document_type == "3" and f.transactions == ()
    assert f.remarks == "Exhibit 24 - Power of Attorney"
    common = f.holdings[0]
    assert (common.seq, common.is_derivative, common.security_title) == (1, False, "Common Shares")
    assert (common.shares_owned, common.direct_indirect) == (891520, "I")
    preferred = [h for h in f.holdings if h.is_derivative]
    assert len(preferred) == 7 and [h.seq for h in preferred] == list(range(1, 8))
    first = preferred[0]
    assert first.security_title == "Series A2 Preferred Shares"
    assert (first.underlying_title, first.underlying_shares) == ("Common Shares", 3811260)
    assert first.shares_owned is None  # a Form 3 gives only the underlying count
    assert first.conversion_or_exercise_price is None  # footnote F2 only
    assert first.footnotes[0].startswith(
        'The Series A2 Preferred Shares (the "Preferred Shares") are convertible'
    )
    assert first.footnotes[1].startswith("These shares are held of record by ABE Investments LLC.")


def test_form5_gifts() -> None:
    f = form3_5("TSLA_0000899243-22-006240_doc5.xml")
    assert f.document_type == "5" and f.period_of_report == date(2021, 12, 31)
    gifts = [t for t in f.transactions if t.code == "G"]
    assert len(gifts) == 5
    assert gifts[0].shares == 2234000 and gifts[0].price is None  # written 0.00


def test_not_an_ownership_document_type() -> None:
    data = (SEC / "form4" / "AIR_0001127602-25-001055.xml").read_bytes()
    with pytest.raises(ParseError, match="not an ownership document: documentType 10-Q"):
        parse_ownership_xml(data.replace(b"<documentType>4<", b"<documentType>10-Q<"))


def test_amendment_with_original_submission_date() -> None:
    # No real 4/A XML exists in the corpus (fixtures/README): a real Form 4 marked as an amendment.
    data = (SEC / "form4" / "AIR_0001127602-25-001055.xml").read_bytes()
    data = data.replace(
        b"<documentType>4</documentType>",
        b"<documentType>4/A</documentType>\n<dateOfOriginalSubmission>2025-01-09</dateOfOriginalSubmission>",
    )
    f = parse_ownership_xml(data)
    assert f.document_type == "4/A" and f.is_amendment
    assert f.date_of_original_submission == date(2025, 1, 9)
