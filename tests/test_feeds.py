"""Feed and index readers on recorded EDGAR responses.

Expected counts were taken from the files with grep/awk (pairing each entry's ``term=`` with its
``accession-number=``, or the index's form-type column with its file name), not from this code.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from bot.sec.feeds import (
    FeedEnded,
    FeedError,
    FeedFiler,
    IndexEntry,
    parse_current_feed,
    parse_current_feed_page,
    parse_form_index,
)
from tests.edgar_fake import fixture_bytes

P1 = "feeds/getcurrent_type4_2025-12-12_p01_start0.atom"
P2 = "feeds/getcurrent_type4_2025-12-12_p02_start100.atom"
P3 = "feeds/getcurrent_type4_2025-12-12_p03_start200.atom"
PAST_END = "feeds/getcurrent_type4_2025-12-12_past_end_start5100_FileUnavailable.html"
ALL_FORMS = "feeds/getcurrent_allforms_2026-01-12_start0.atom"
ALL_JUNE = "feeds/getcurrent_all_2026-06-11.atom"
EST = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(("name", "filings", "amendments"), [(P1, 46, 0), (P2, 36, 1), (P3, 43, 0)])
def test_type4_pages_keep_one_entry_per_form4_filing(name: str, filings: int, amendments: int) -> None:
    entries = parse_current_feed(fixture_bytes(name))
    assert len(entries) == filings
    assert len({e.accession for e in entries}) == filings
    assert {e.form_type for e in entries} <= {"4", "4/A"}
    assert sum(e.form_type == "4/A" for e in entries) == amendments


def test_type4_prefix_matches_are_dropped() -> None:
    # Page 2 of type=4 also lists 424B2, 497K, 425, 424B5, 424B3, 485BPOS and 497 filings.
    every_form = parse_current_feed(fixture_bytes(P2), forms=None)
    assert {e.form_type for e in every_form} == {
        "4", "4/A", "424B2", "497K", "425", "424B5", "424B3", "485BPOS", "497"}
    assert len(every_form) == 36 + 23
    page3_forms = {e.form_type for e in parse_current_feed(fixture_bytes(P3), forms=None)}
    assert "40-APP/A" in page3_forms
    assert all(e.form_type in ("4", "4/A") for e in parse_current_feed(fixture_bytes(P3)))


def test_first_entry_of_page_one() -> None:
    page = parse_current_feed_page(fixture_bytes(P1))
    assert page.raw_entry_count == 100
    assert page.newest_updated == datetime(2025, 12, 12, 18, 2, 43, tzinfo=EST)
    assert page.oldest_updated == datetime(2025, 12, 12, 17, 32, 17, tzinfo=EST)
    first = page.entries[0]
    # The feed lists the owner first, then the issuer; the issuer's line is the one kept up front.
    assert first.accession == "0002063236-25-000004"
    assert first.form_type == "4"
    assert (first.cik, first.company, first.role) == (1673743, "Hinge Health, Inc.", "Issuer")
    assert first.link == ("https://www.sec.gov/Archives/edgar/data/1673743/000206323625000004/"
                          "0002063236-25-000004-index.htm")
    assert first.updated == datetime(2025, 12, 12, 18, 2, 43, tzinfo=EST)
    assert first.updated.utcoffset() == timedelta(hours=-5)
    assert first.filed_date == date(2025, 12, 12)
    assert first.filers == (FeedFiler(2063236, "Perez Daniel Antonio", "Reporting"),
                            FeedFiler(1673743, "Hinge Health, Inc.", "Issuer"))
    assert first.issuer == FeedFiler(1673743, "Hinge Health, Inc.", "Issuer")


def test_joint_filing_names_with_parentheses_and_entities() -> None:
    entries = parse_current_feed(fixture_bytes(P1))
    general_atlantic = next(e for e in entries if e.accession == "0000950142-25-003181")
    assert general_atlantic.issuer == FeedFiler(1832466, "Alignment Healthcare, Inc.", "Issuer")
    owners = general_atlantic.reporting_owners
    assert len(owners) == 9  # the tenth owner line is on page 2
    assert FeedFiler(1793940, "General Atlantic (SPV) GP, LLC", "Reporting") in owners
    assert FeedFiler(1187388, "GAPCO GMBH & CO KG", "Reporting") in owners


def test_a_filing_can_straddle_two_pages() -> None:
    page1 = {e.accession for e in parse_current_feed(fixture_bytes(P1))}
    page2 = parse_current_feed(fixture_bytes(P2))
    page3 = {e.accession for e in parse_current_feed(fixture_bytes(P3))}
    assert page1 & {e.accession for e in page2} == {"0000950142-25-003181"}
    spill = next(e for e in page2 if e.accession == "0000950142-25-003181")
    # Only an owner's line made it onto page 2: no issuer line there, so that line is the entry.
    assert spill.issuer is None
    assert (spill.cik, spill.company, spill.role) == (1017645, "GENERAL ATLANTIC, L.P.", "Reporting")
    assert len(page1 | {e.accession for e in page2} | page3) == 124


def test_amendment_on_page_two() -> None:
    amendment = next(e for e in parse_current_feed(fixture_bytes(P2)) if e.form_type == "4/A")
    assert amendment.accession == "0001628280-25-056840"
    assert (amendment.cik, amendment.company) == (1069183, "AXON ENTERPRISE, INC.")
    assert [f.cik for f in amendment.reporting_owners] == [1786512]
    assert parse_current_feed(fixture_bytes(P2), forms="4/A") == [amendment]  # a lone string is one form


def test_all_forms_feed() -> None:
    data = fixture_bytes(ALL_FORMS)
    entries = parse_current_feed(data)
    assert len(entries) == 18
    assert all(e.form_type == "4" for e in entries)
    everything = parse_current_feed(data, forms=None)
    assert len(everything) == 18 + 55
    assert {"13F-HR", "D", "424B2", "5", "3", "SCHEDULE 13D/A"} <= {e.form_type for e in everything}


def test_all_forms_feed_june_2026_non_adjacent_lines() -> None:
    data = fixture_bytes(ALL_JUNE)
    entries = parse_current_feed(data)
    assert len(entries) == 12
    by_accession = {e.accession: e for e in entries}
    mvis = by_accession["0001493152-26-028198"]
    assert (mvis.cik, mvis.company) == (65770, "MICROVISION, INC.")
    assert [f.name for f in mvis.reporting_owners] == ["Markham Drew G"]
    # Lines of one filing need not be adjacent: this Form 144's two lines are split by another filing.
    form144 = {e.accession: e for e in parse_current_feed(data, forms=["144"])}["0001193125-26-266443"]
    assert {(f.cik, f.role) for f in form144.filers} == {(1824920, "Subject"), (1670723, "Reporting")}


def test_past_the_end_page_raises_feed_ended() -> None:
    with pytest.raises(FeedEnded):
        parse_current_feed(fixture_bytes(PAST_END))
    assert issubclass(FeedEnded, FeedError)


def test_other_non_feeds_are_feed_errors_not_feed_ended() -> None:
    with pytest.raises(FeedError) as info:
        parse_current_feed(b"<!DOCTYPE html><html><title>Forbidden</title></html>")
    assert not isinstance(info.value, FeedEnded)
    with pytest.raises(FeedError, match="not an Atom feed"):
        parse_current_feed(fixture_bytes("archives/DKNG_0001104659-25-025206_tm259698-1_4seq1.xml"))
    with pytest.raises(FeedError, match="well-formed"):
        parse_current_feed(b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>")


# ---------------------------------------------------------------------------------------- indexes


def test_daily_form_index_counts() -> None:
    entries = parse_form_index(fixture_bytes("feeds/form.20200318.idx"))
    # awk on the form-type column: 2,040 "4" lines (974 accessions), 34 "4/A" lines (17 accessions).
    assert sum(e.form_type == "4" for e in entries) == 974
    assert sum(e.form_type == "4/A" for e in entries) == 17
    assert len({e.accession for e in entries}) == len(entries) == 991
    assert all(e.filed_date == date(2020, 3, 18) for e in entries)
    assert all(len(e.filer_ciks) >= 2 for e in entries)  # issuer + at least one owner


def test_daily_form_index_first_form4() -> None:
    entries = parse_form_index(fixture_bytes("feeds/form.20200318.idx"))
    assert entries[0] == IndexEntry(
        accession="0000899243-20-008928",
        form_type="4",
        cik=1770787,
        company="10x Genomics, Inc.",
        filed_date=date(2020, 3, 18),
        path="edgar/data/1770787/0000899243-20-008928.txt",
        filer_ciks=(1770787, 1731509, 1805808),  # grep 0000899243-20-008928 form.20200318.idx
    )


def test_daily_form_index_other_forms() -> None:
    data = fixture_bytes("feeds/form.20200318.idx")
    every = parse_form_index(data, forms=None)
    assert len(every) == 2666  # distinct file names in the index
    one_a_pos = [e for e in every if e.form_type == "1-A POS"]  # a form type with a space in it
    assert [e.company for e in one_a_pos] == ["Belpointe REIT, Inc.", "DELHI BANK CORP"]
    assert parse_form_index(data, forms=["SC 13G/A"])[0].form_type == "SC 13G/A"


def test_master_index_excerpt() -> None:
    data = fixture_bytes("feeds/master.20181231.idx_excerpt")
    entries = parse_form_index(data)
    assert [(e.accession, e.cik, e.company) for e in entries] == [
        ("0001209191-18-064398", 1000228, "HENRY SCHEIN INC"),
        ("0000899681-18-000088", 10048, "BARNWELL INDUSTRIES INC"),
        ("0000899681-18-000091", 10048, "BARNWELL INDUSTRIES INC"),
    ]
    assert entries[0].filed_date == date(2018, 12, 31)
    assert entries[0].path == "edgar/data/1000228/0001209191-18-064398.txt"
    assert len(parse_form_index(data, forms=None)) == 10


def test_company_ordered_index_reads_the_same() -> None:
    # company.idx puts the name first; rebuild two real form.idx rows in that layout.
    header = f"{'Company Name':<62}{'Form Type':<12}{'CIK':<12}{'Date Filed':<12}File Name"
    rows = [
        f"{'10x Genomics, Inc.':<62}{'4':<12}{'1770787':<12}{'20200318':<12}"
        + "edgar/data/1770787/0000899243-20-008928.txt",
        f"{'Belpointe REIT, Inc.':<62}{'1-A POS':<12}{'1749817':<12}{'20200318':<12}"
        + "edgar/data/1749817/0001010549-20-000033.txt",
    ]
    data = "\n".join([header, "-" * 140, *rows]).encode()
    entries = parse_form_index(data, forms=None)
    assert [(e.form_type, e.company, e.cik) for e in entries] == [
        ("4", "10x Genomics, Inc.", 1770787), ("1-A POS", "Belpointe REIT, Inc.", 1749817)]


def test_not_an_index() -> None:
    with pytest.raises(FeedError):
        parse_form_index(fixture_bytes(PAST_END))
