"""Malformed and awkward inputs (tests/fixtures/bad/, see its README): a ParseError with a specific reason,
or a parse with the documented behaviour. Never any other exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import ParseError
from bot.sec.form4 import parse_document, parse_ownership_xml, parse_sgml_submission

BAD = Path(__file__).parent / "fixtures" / "bad"
AIR = Path(__file__).parent / "fixtures" / "sec" / "form4" / "AIR_0001127602-25-001055.xml"


def read(name: str) -> bytes:
    return (BAD / name).read_bytes()


REJECTED = [
    ("empty.xml", "empty document"),
    ("whitespace_only.xml", "empty document"),
    ("garbage.bin", "not XML: the document starts with"),
    ("json_error_body.json", "JSON where an ownership XML was expected"),
    (
        "getcurrent_type4_2025-12-12_past_end_start5100_FileUnavailable.html",
        "HTML page where an ownership XML was expected (title: SEC.gov | File Unavailable)",
    ),
    ("getcurrent_all_2026-06-11.atom", "not an ownership document: root element <feed>"),
    ("truncated_half_TSLA_0000899243-21-044060_doc4.xml", "truncated XML: the document ends before"),
    ("truncated_sgml_AAPL_0000320193-22-000061.txt", "truncated XML: the document ends before"),
    ("sgml_header_only_AAPL_0000320193-22-000061.txt", "SGML submission without an <XML> ownership document"),
    ("missing_issuer_cik_from_AIR.xml", "no issuer CIK"),
    ("issuer_cik_not_a_number_from_AIR.xml", "issuer CIK is not a number: 'AAR CORP'"),
    ("no_reporting_owner_from_AIR.xml", "no reporting owner"),
    ("missing_transaction_code_from_AIR.xml", "non-derivative transaction row 1 has no transaction code"),
    ("document_type_10-K_from_AIR.xml", "not an ownership document: documentType 10-K"),
]


@pytest.mark.parametrize(("name", "reason"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected_with_a_specific_reason(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_document(read(name), source=name)
    message = str(caught.value)
    assert message.startswith(reason)
    assert "\n" not in message and len(message) < 200  # one short line, fit for a quarantine table


@pytest.mark.parametrize(("name", "reason"), REJECTED, ids=[r[0] for r in REJECTED])
def test_xml_entry_point_rejects_the_same_inputs(name: str, reason: str) -> None:
    """Callers that know they hold "the XML" get ParseError too, never an lxml or Unicode error."""
    with pytest.raises(ParseError):
        parse_ownership_xml(read(name), source=name)


@pytest.mark.parametrize("path", sorted(BAD.iterdir()), ids=lambda p: p.name)
def test_nothing_but_parse_error_escapes_any_entry_point(path: Path) -> None:
    data = path.read_bytes()
    for parse in (parse_document, parse_ownership_xml, parse_sgml_submission):
        try:
            parse(data, source=path.name)
        except ParseError:
            pass


@pytest.mark.parametrize("cut", [0, 1, 10, 100, 500, 1000, 2000, 3000, 3370])  # 3382 bytes in all
def test_any_prefix_of_a_real_filing_is_a_parse_error(cut: int) -> None:
    data = AIR.read_bytes()
    assert cut < len(data)
    with pytest.raises(ParseError):
        parse_document(data[:cut])


def test_a_form4_with_no_rows_still_parses() -> None:
    f = parse_document(read("no_transactions_from_AIR.xml"))
    assert (f.issuer_cik, f.ticker, f.document_type) == (1750, "AIR", "4")
    assert f.transactions == () and f.holdings == () and f.footnotes == {}
    assert not f.accession_known and f.accession.startswith("sha256:")


def test_unknown_transaction_code_is_kept() -> None:
    (row,) = parse_document(read("unknown_code_Q_from_AIR.xml")).transactions
    assert (row.code, row.shares, row.price, row.acquired_disposed) == ("Q", 1500, 66.903, "D")


def test_blank_price_is_no_price() -> None:
    (row,) = parse_document(read("blank_price_from_AIR.xml")).transactions
    assert row.price is None and row.shares == 1500
    assert row.footnotes == () and not row.weighted_average_price


def test_price_only_in_a_footnote_is_no_price() -> None:
    (row,) = parse_document(read("footnote_only_price_from_AIR.xml")).transactions
    assert row.price is None
    assert row.footnotes == ("The shares were sold at a price of $66.903 per share",)


def test_thousands_separators_and_dollar_signs() -> None:
    (row,) = parse_document(read("comma_numbers_from_AIR.xml")).transactions
    assert (row.shares, row.price, row.shares_owned_after) == (1500, 66.903, 37565)


def test_windows_1252_byte_is_read_as_such() -> None:
    f = parse_document(read("cp1252_byte_from_AIR.xml"))
    assert "The reporting person\u2019s agent undertakes" in f.footnotes["F1"]
    assert f.transactions[0].price == 66.903


def test_namespaced_document_parses_like_the_original() -> None:
    original = parse_ownership_xml(AIR.read_bytes())
    namespaced = parse_document(read("namespaced_from_AIR.xml"))
    assert namespaced.transactions == original.transactions
    assert namespaced.owners == original.owners
    assert (namespaced.issuer_cik, namespaced.ticker) == (1750, "AIR")


def test_external_entities_are_never_read() -> None:
    f = parse_document(read("xxe_external_entity_from_AIR.xml"))
    assert f.transactions[0].shares == 1500
    assert "root:" not in (f.remarks or "")  # /etc/passwd's first line starts with root:


def test_the_sniffer_routes_sgml_and_xml() -> None:
    sgml = Path(__file__).parent / "fixtures" / "sec" / "sgml" / "AIR_0001127602-25-001055.txt"
    via_sgml = parse_document(sgml.read_bytes())
    via_xml = parse_document(AIR.read_bytes(), source=AIR.name)
    assert via_sgml.accepted_at is not None and via_xml.accepted_at is None
    assert via_sgml.accession == via_xml.accession == "0001127602-25-001055"
    assert via_sgml.transactions == via_xml.transactions


def test_not_bytes_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_document(12345)  # type: ignore[arg-type]
