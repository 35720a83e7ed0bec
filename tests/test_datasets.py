"""SEC Insider Transactions Data Sets → filings → store, on the real 2024 Q3 tables and 2025 Q2 excerpts.

Expected values are read off the TSV files by eye (the rows are quoted in comments). Where a table is missing
from the fixtures (2024 Q3 has no REPORTINGOWNER / NONDERIV_TRANS / FOOTNOTES; the 2025 Q2 SUBMISSION excerpt
shares no accession with the other two excerpts), the test writes the missing rows itself and says so: those
rows are marked "test-made" and no assertion rests on their values except where stated.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import random
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from bot.backfill import (
    add_backfill_command,
    backfill_quarters,
    cmd_backfill,
    load_dataset,
    parse_quarters,
)
from bot.ingest import IngestReport
from bot.models import Filing
from bot.sec.datasets import (
    TABLES,
    DatasetCorrupt,
    DatasetError,
    Rejected,
    normalise_flag,
    read_dataset,
)
from bot.sec.form4 import parse_document
from bot.store.db import Store
from tests.conftest import FIXTURES, FORM4
from tests.edgar_fake import TEST_USER_AGENT, EdgarFake, FakeResponse

FORM345 = FIXTURES / "form345"
Q3 = FORM345 / "2024q3"
Q2 = FORM345 / "2025q2"
Q2_SUBMISSION = Q2 / "SUBMISSION_excerpt_first30rows.tsv"
Q2_OWNERS = Q2 / "REPORTINGOWNER_excerpt_first29rows.tsv"
Q2_TRANS = Q2 / "NONDERIV_TRANS_excerpt_first83rows.tsv"

GETSINGER = "0001415889-25-018598"  # one director, an S then two G rows
LIGHTSPEED = "0001415889-25-018595"  # joint filing: ten Lightspeed entities, 22 rows
BERG = "0000950170-25-091845"  # officer (President and CEO): an M and an F row
CRM_ORIGINAL = "0001127602-24-022031"  # Salesforce Form 4 filed 12-AUG-2024
CRM_AMENDMENT = "0001127602-24-022191"  # its 4/A, filed 14-AUG-2024, DATE_OF_ORIG_SUB 12-AUG-2024
SIRI_AMENDMENT = "0001225208-24-008881"
ZIP_PATH = "/files/structureddata/data/insider-transactions-data-sets/{}_form345.zip"


# ------------------------------------------------------------------------------------------- helpers


def header_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return next(csv.reader(f, delimiter="\t"))


def read_tsv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def real_lines(path: Path, accessions: set[str]) -> str:
    """The header and the verbatim lines of the given accessions (the 2024 Q3 files have no multi-line rows)."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    return lines[0] + "".join(line for line in lines[1:] if line.split("\t", 1)[0] in accessions)


def made_submission(accession: str, *, issuer: int, aff: str, doc: str = "4") -> list[str]:
    """A SUBMISSION row (test-made issuer; the real one is not in the excerpt) in the 2025 Q2 header's order."""
    values = {
        "ACCESSION_NUMBER": accession, "FILING_DATE": "30-JUN-2025", "PERIOD_OF_REPORT": "26-JUN-2025",
        "DOCUMENT_TYPE": doc, "ISSUERCIK": f"{issuer:010d}", "ISSUERNAME": f"Test-made Issuer {issuer}",
        "ISSUERTRADINGSYMBOL": f"TST{issuer % 10}", "AFF10B5ONE": aff,
    }
    return [values.get(name, "") for name in header_of(Q2_SUBMISSION)]


def q2_folder(tmp: Path, *, footnotes: list[list[str]] | None = None) -> Path:
    """Real REPORTINGOWNER and NONDERIV_TRANS excerpts, plus test-made SUBMISSION rows for three of their
    accessions (AFF10B5ONE: "1", blank, "false"), and optionally a test-made FOOTNOTES table."""
    folder = tmp / "2025q2"
    folder.mkdir()
    shutil.copy(Q2_OWNERS, folder / Q2_OWNERS.name)
    shutil.copy(Q2_TRANS, folder / Q2_TRANS.name)
    write_tsv(folder / "SUBMISSION.tsv", header_of(Q2_SUBMISSION), [
        made_submission(GETSINGER, issuer=9_000_001, aff="1"),
        made_submission(LIGHTSPEED, issuer=9_000_002, aff=""),
        made_submission(BERG, issuer=9_000_003, aff="false"),
    ])
    if footnotes is not None:
        write_tsv(folder / "FOOTNOTES.tsv", ["ACCESSION_NUMBER", "FOOTNOTE_ID", "FOOTNOTE_TXT"], footnotes)
    return folder


def crm_folder(tmp: Path) -> Path:
    """Real 2024 Q3 rows of Salesforce's Form 4 and its 4/A (SUBMISSION, DERIV_TRANS, both holdings tables);
    a test-made REPORTINGOWNER row per filing (the same owner, so they are one filer group) and an empty
    NONDERIV_TRANS (the real table is not in the fixtures; both filings report only Table II rows anyway)."""
    folder = tmp / "crm"
    folder.mkdir()
    both = {CRM_ORIGINAL, CRM_AMENDMENT}
    for name in ("SUBMISSION.tsv", "DERIV_TRANS.tsv", "NONDERIV_HOLDING.tsv", "DERIV_HOLDING.tsv"):
        (folder / name).write_text(real_lines(Q3 / name, both), encoding="utf-8")
    owner_header = header_of(Q2_OWNERS)
    made = {"RPTOWNERCIK": "0009900001", "RPTOWNERNAME": "Test-made Owner", "RPTOWNER_RELATIONSHIP": "Director"}
    write_tsv(folder / "REPORTINGOWNER.tsv", owner_header,
              [[acc if n == "ACCESSION_NUMBER" else made.get(n, "") for n in owner_header] for acc in sorted(both)])
    write_tsv(folder / "NONDERIV_TRANS.tsv", header_of(Q2_TRANS), [])
    return folder


def make_zip(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, p.name)
    return dest


def read_all(path: Path, tmp: Path, **kwargs) -> tuple[dict[str, Filing], list[Rejected]]:
    filings: dict[str, Filing] = {}
    rejected: list[Rejected] = []
    for item in read_dataset(path, tmp / "work", **kwargs):
        if isinstance(item, Filing):
            filings[item.accession] = item
        else:
            rejected.append(item)
    return filings, rejected


async def counts(store: Store) -> dict[str, int]:
    return await store.trades.counts()


# ------------------------------------------------------------------------------------ value mapping


@pytest.mark.parametrize(("text", "expected"), [
    ("1", True), ("true", True), ("TRUE", True), ("0", False), ("false", False), ("", None), (" ", None),
    (None, None),
])
def test_flag_normalisation(text: str | None, expected: bool | None) -> None:
    assert normalise_flag(text) is expected


def test_every_aff10b5one_value_in_the_real_excerpt_is_understood() -> None:
    with open(Q2_SUBMISSION, encoding="utf-8", newline="") as f:
        values = Counter(r["AFF10B5ONE"] for r in csv.DictReader(f, delimiter="\t"))
    assert values == {"0": 19, "false": 5, "": 4, "true": 1, "1": 1}  # counted in the file
    assert {v: normalise_flag(v) for v in values} == {"0": False, "false": False, "": None, "true": True,
                                                      "1": True}


def test_the_specs_use_only_columns_sec_documents() -> None:
    meta = json.loads((Q2 / "FORM_345_metadata.json").read_text(encoding="utf-8"))
    documented = {t["url"][:-4]: {c["name"] for c in t["tableSchema"]["columns"]} for t in meta["tables"]}
    # Spellings of the real files that the metadata does not use (SEC's own inconsistencies).
    undocumented_real = {"EQUITY_SWAP_TRANS_CD_FN", "EXCERCISE_DATE", "EXCERCISE_DATE_FN"}
    for name, spec in TABLES.items():
        for column in spec.columns:
            spellings = {column.name, *column.aliases}
            assert spellings & (documented[name] | undocumented_real), (name, column.name)
    # ... and those spellings are really in the files' headers.
    assert "EQUITY_SWAP_TRANS_CD_FN" in header_of(Q2_TRANS)
    assert "EXCERCISE_DATE" in header_of(Q3 / "DERIV_TRANS.tsv")
    assert "EXERCISE_DATE" in header_of(Q3 / "DERIV_HOLDING.tsv")


def test_2025q2_rows_map_to_filings(tmp_path: Path) -> None:
    filings, rejected = read_all(q2_folder(tmp_path), tmp_path)
    assert sorted(filings) == sorted([GETSINGER, LIGHTSPEED, BERG])

    g = filings[GETSINGER]
    # REPORTINGOWNER: 0001415889-25-018598  0001627519  Getsinger Peter W  Director
    assert [(o.cik, o.name, o.is_director, o.is_officer) for o in g.owners] == [
        (1627519, "Getsinger Peter W", True, False)]
    # NONDERIV_TRANS, in SK order (7466214, 7466215, 7466216; the file lists 7466216 before 7466215):
    #   S 3456.0 @ 212.01 on 26-JUN-2025, D, 14895.0 after; G 1000.0 @ 0.0, 13895.0 after; G 999.0, 12896.0 after
    assert [(t.seq, t.code, t.shares, t.price, t.acquired_disposed, t.shares_owned_after) for t in g.transactions] == [
        (1, "S", 3456.0, 212.01, "D", 14895.0),
        (2, "G", 1000.0, None, "D", 13895.0),  # a typed $0 is no price, as in the XML parser
        (3, "G", 999.0, None, "D", 12896.0),
    ]
    s = g.transactions[0]
    assert s.transaction_date == date(2025, 6, 26) and s.security_title == "Common Stock"
    assert s.direct_indirect == "D" and s.equity_swap is False and not s.is_derivative
    assert g.aff10b5one is True  # test-made "1"
    assert g.accepted_at is None  # the data sets carry no acceptance time
    assert g.filed_date == date(2025, 6, 30) and g.document_type == "4" and g.accession_known

    lightspeed = filings[LIGHTSPEED]
    # Ten REPORTINGOWNER rows, all TenPercentOwner: one filing, ten owners, its 22 rows counted once.
    assert len(lightspeed.owners) == 10 and all(o.is_ten_percent_owner for o in lightspeed.owners)
    assert "Lightspeed Venture Partners IX, L.P." in [o.name for o in lightspeed.owners]
    assert len(lightspeed.transactions) == 22
    # Lowest SK 8638561: C 4440000.0 A, 4440000.0 after, D
    first = lightspeed.transactions[0]
    assert (first.code, first.shares, first.acquired_disposed, first.shares_owned_after, first.direct_indirect) == (
        "C", 4440000.0, "A", 4440000.0, "D")
    # SK 8638567: J 1159950.0 A, I "By Lightspeed General Partner IX, L.P."
    seventh = lightspeed.transactions[6]
    assert (seventh.code, seventh.shares, seventh.ownership_nature) == (
        "J", 1159950.0, "By Lightspeed General Partner IX, L.P.")
    assert lightspeed.aff10b5one is None  # blank: the box was absent

    berg = filings[BERG]
    # 0000950170-25-091845  0001770259  Berg Aaron  Officer  President and CEO
    [owner] = berg.owners
    assert (owner.cik, owner.name, owner.is_officer, owner.officer_title) == (
        1770259, "Berg Aaron", True, "President and CEO")
    # M 75000.0 (no price), A, 119077.0 after; F 38363.0 @ 15.9, D, 80714.0 after; equity swap "false"
    assert [(t.code, t.shares, t.price, t.acquired_disposed, t.shares_owned_after) for t in berg.transactions] == [
        ("M", 75000.0, None, "A", 119077.0), ("F", 38363.0, 15.9, "D", 80714.0)]
    assert berg.transactions[1].security_title == "American Depositary Share"
    assert berg.transactions[1].equity_swap is False
    assert berg.aff10b5one is False  # test-made "false"

    # The other 12 accessions of the excerpts have no SUBMISSION row: their rows are set aside, counted.
    assert {r.source.split("!")[1]: r.reason.split()[0] for r in rejected} == {
        "NONDERIV_TRANS": str(83 - 3 - 22 - 2), "REPORTINGOWNER": str(29 - 1 - 10 - 1)}


def test_footnotes_are_resolved_and_read_like_the_xml_parser(tmp_path: Path) -> None:
    # Test-made FOOTNOTES (the real table is not in the fixtures): F1 is cited by Getsinger's S row
    # (TRANS_SHARES_FN), F2/F3 by the G rows; F3 is left undefined on purpose.
    f1 = ("The price reported is a weighted average price. These shares were sold in multiple transactions "
          "at prices ranging from $211.50 to $212.45, inclusive. The sale was made pursuant to a Rule 10b5-1 "
          "trading plan adopted by the reporting person on March 3, 2025.")
    f2 = "Gift to a  family\n trust."
    filings, _ = read_all(q2_folder(tmp_path, footnotes=[
        [GETSINGER, "F1", f1], [GETSINGER, "F2", f2]]), tmp_path)
    g = filings[GETSINGER]
    s, g1000, g999 = g.transactions
    assert s.footnotes == (f1,)
    assert s.weighted_average_price and s.plan_footnote and s.plan_adoption_date == date(2025, 3, 3)
    assert not s.sell_to_cover
    assert g1000.footnotes == ("Gift to a family trust.",)  # whitespace collapsed, as the parser does
    assert not g1000.plan_footnote and g999.footnotes == ()  # F3: cited, not defined
    assert g.footnotes == {"F1": f1, "F2": "Gift to a family trust."}


async def test_plan_flag_follows_the_store_rule(tmp_path: Path, store: Store) -> None:
    f1 = "Sold pursuant to a Rule 10b5-1 trading plan adopted on March 3, 2025."
    report = await load_dataset(store, q2_folder(tmp_path, footnotes=[[GETSINGER, "F1", f1]]))
    assert report.added == 3
    rows = await store.fetchall("SELECT accession, seq, plan_flag FROM transactions WHERE is_derivative=0 "
                                "AND accession IN (?, ?) ORDER BY accession, seq", (GETSINGER, BERG))
    by = {(r[0], r[1]): r[2] for r in rows}
    # Box ticked and a footnote naming the S row: only that row is a plan row.
    assert [by[(GETSINGER, i)] for i in (1, 2, 3)] == [1, 0, 0]
    # Box unticked ("false"): not a plan row.
    assert {by[(BERG, 1)], by[(BERG, 2)]} == {0}
    nulls = await store.fetchone("SELECT COUNT(*) FROM transactions WHERE accession=? AND plan_flag IS NULL",
                                 (LIGHTSPEED,))
    assert nulls[0] == 22  # blank box, no footnote: unknown


def test_2024q3_real_tables_read_completely(tmp_path: Path) -> None:
    """Every row of the real 2024 Q3 SUBMISSION, DERIV_TRANS and holdings tables lands in a filing.

    Test-made: one owner per accession (REPORTINGOWNER is not in the fixtures) and an empty NONDERIV_TRANS.
    A small bucket size forces many buckets, so rows of one accession must meet across bucket files.
    """
    folder = tmp_path / "q3"
    folder.mkdir()
    for name in ("SUBMISSION.tsv", "DERIV_TRANS.tsv", "NONDERIV_HOLDING.tsv", "DERIV_HOLDING.tsv"):
        (folder / name).symlink_to(Q3 / name)
    with open(Q3 / "SUBMISSION.tsv", encoding="utf-8", newline="") as f:
        submissions = list(csv.DictReader(f, delimiter="\t"))
    write_tsv(folder / "REPORTINGOWNER.tsv", ["ACCESSION_NUMBER", "RPTOWNERCIK", "RPTOWNERNAME"],
              [[r["ACCESSION_NUMBER"], "9900001", "Test-made Owner"] for r in submissions])
    write_tsv(folder / "NONDERIV_TRANS.tsv", header_of(Q2_TRANS), [])

    filings, rejected = read_all(folder, tmp_path, bucket_bytes=512 * 1024)
    assert rejected == []
    assert len(filings) == len(submissions) == 36_075
    # An issuer's filings come out together (they are stored in the same batch).
    order = [f.issuer_cik for f in filings.values()]
    runs = [cik for i, cik in enumerate(order) if i == 0 or cik != order[i - 1]]
    assert len(runs) == len(set(runs)) == len({r["ISSUERCIK"] for r in submissions})
    assert Counter(f.document_type for f in filings.values()) == {
        "4": 32_530, "3": 2_866, "4/A": 520, "3/A": 87, "5": 62, "5/A": 10}
    # Line counts of the files, less the header.
    assert sum(len(f.transactions) for f in filings.values()) == 19_003
    assert all(t.is_derivative for f in filings.values() for t in f.transactions)
    assert sum(1 for f in filings.values() for h in f.holdings if not h.is_derivative) == 17_897
    assert sum(1 for f in filings.values() for h in f.holdings if h.is_derivative) == 8_136
    # 2024 Q3's SUBMISSION has no AFF10B5ONE column: unknown everywhere, never False.
    assert {f.aff10b5one for f in filings.values()} == {None}

    # SUBMISSION: 0001225208-24-008881  30-SEP-2024  09-SEP-2024  11-SEP-2024 ... 4/A  0000908937
    #             SIRIUS XM HOLDINGS INC.  (SIRI)  "This Form 4/A is being filed to amend and restate ..."
    siri = filings[SIRI_AMENDMENT]
    assert siri.document_type == "4/A" and siri.is_amendment
    assert siri.date_of_original_submission == date(2024, 9, 11)
    assert (siri.filed_date, siri.period_of_report) == (date(2024, 9, 30), date(2024, 9, 9))
    assert (siri.issuer_cik, siri.issuer_name) == (908937, "SIRIUS XM HOLDINGS INC.")
    assert siri.ticker == "(SIRI)"  # as filed, like the XML parser keeps it
    assert siri.remarks is not None and siri.remarks.startswith('This Form 4/A is being filed to amend and restate')
    assert '(""Original Form 4"")' not in siri.remarks and '("Original Form 4")' in siri.remarks  # CSV quotes

    # DERIV_TRANS: 0001225208-24-008801  MassMutual Non-Qualified Thrift Plan  19-SEP-2024  J  95.34 @ 18.88  A
    #   underlying "Common Shares (""Shares of Beneficial Interest"")" 95.34, 5191.95 after, D
    [thrift] = filings["0001225208-24-008801"].transactions
    assert (thrift.code, thrift.shares, thrift.price, thrift.acquired_disposed) == ("J", 95.34, 18.88, "A")
    assert thrift.security_title == "MassMutual Non-Qualified Thrift Plan"
    assert thrift.underlying_title == 'Common Shares ("Shares of Beneficial Interest")'
    assert (thrift.underlying_shares, thrift.shares_owned_after, thrift.direct_indirect) == (95.34, 5191.95, "D")
    assert thrift.transaction_date == date(2024, 9, 19)

    # DERIV_HOLDING: 0000950170-24-110527 lists SK 1671465 first; in SK order (1671460..1671466) the document
    # reads: three options (1200.0 @ 7.85 to 13-JUN-2029, 250.0 @ 48.75, 800.0 @ 56.25), then PSUs 2021..2024.
    held = [h for h in filings["0000950170-24-110527"].holdings if h.is_derivative]
    assert [(h.seq, h.security_title, h.underlying_shares) for h in held] == [
        (1, "Employee Stock Option (right to buy)", 1200.0), (2, "Employee Stock Option (right to buy)", 250.0),
        (3, "Employee Stock Option (right to buy)", 800.0), (4, "Performance Share Units (2021)", 4136.0),
        (5, "Performance Share Units (2022)", 6310.0), (6, "Performance Share Units (2023)", 3844.0),
        (7, "Performance Share Units (2024)", 1176.0)]
    assert (held[0].conversion_or_exercise_price, held[0].expiration_date) == (7.85, date(2029, 6, 13))
    assert held[0].underlying_title == "Class A Common Stock" and held[0].direct_indirect == "D"


def test_2024q3_amendment_and_its_original(tmp_path: Path) -> None:
    filings, rejected = read_all(crm_folder(tmp_path), tmp_path)
    assert rejected == []
    amendment, original = filings[CRM_AMENDMENT], filings[CRM_ORIGINAL]
    assert (amendment.document_type, amendment.date_of_original_submission) == ("4/A", date(2024, 8, 12))
    assert (original.document_type, original.filed_date) == ("4", date(2024, 8, 12))
    # DERIV_TRANS: Non-qualified Stock Option (Right to Buy) 118.04, 09-AUG-2024, M, 1400.0 @ 0.0, D,
    #   exercisable 22-MAR-2019, expires 22-MAR-2025, Common Stock 1400.0, 54370.0 after, D
    [option] = amendment.transactions
    assert (option.code, option.shares, option.price, option.acquired_disposed) == ("M", 1400.0, None, "D")
    assert option.conversion_or_exercise_price == 118.04
    assert (option.exercise_date, option.expiration_date) == (date(2019, 3, 22), date(2025, 3, 22))
    assert (option.underlying_title, option.underlying_shares, option.shares_owned_after) == (
        "Common Stock", 1400.0, 54370.0)
    # NONDERIV_HOLDING by SK: 2226043 "By HJ Family           Trust" 946987.0, then 2226044 "By LLC BE" 115840.0
    first, second = amendment.holdings[:2]
    assert (first.shares_owned, first.direct_indirect, first.ownership_nature) == (
        946987.0, "I", "By HJ Family           Trust")
    assert (second.shares_owned, second.ownership_nature) == (115840.0, "By LLC BE")
    assert len(amendment.holdings) == 7


async def test_the_4a_rule_applies_to_backfilled_filings(tmp_path: Path, store: Store) -> None:
    report = await load_dataset(store, crm_folder(tmp_path))
    assert (report.added, report.quarantined) == (2, [])
    row = await store.fetchone("SELECT superseded_by, superseded_at FROM filings WHERE accession=?",
                               (CRM_ORIGINAL,))
    # The amendment's acceptance time is unknown, so it supersedes as of any time.
    assert tuple(row) == (CRM_AMENDMENT, "0000")


# The XML corpus flattened the way the data sets flatten it (column ← element, as SEC's metadata describes):
# a naive ElementTree reading, independent of the loader and of the lxml parser.
_XML_FIELDS = {
    "SECURITY_TITLE": "securityTitle", "CONV_EXERCISE_PRICE": "conversionOrExercisePrice",
    "TRANS_DATE": "transactionDate", "DEEMED_EXECUTION_DATE": "deemedExecutionDate",
    "TRANS_TIMELINESS": "transactionTimeliness", "TRANS_SHARES": "transactionAmounts/transactionShares",
    "TRANS_PRICEPERSHARE": "transactionAmounts/transactionPricePerShare",
    "TRANS_ACQUIRED_DISP_CD": "transactionAmounts/transactionAcquiredDisposedCode",
    "EXCERCISE_DATE": "exerciseDate", "EXERCISE_DATE": "exerciseDate", "EXPIRATION_DATE": "expirationDate",
    "UNDLYNG_SEC_TITLE": "underlyingSecurity/underlyingSecurityTitle",
    "UNDLYNG_SEC_SHARES": "underlyingSecurity/underlyingSecurityShares",
    "SHRS_OWND_FOLWNG_TRANS": "postTransactionAmounts/sharesOwnedFollowingTransaction",
    "DIRECT_INDIRECT_OWNERSHIP": "ownershipNature/directOrIndirectOwnership",
    "NATURE_OF_OWNERSHIP": "ownershipNature/natureOfOwnership",
}
_XML_TABLES = {
    "NONDERIV_TRANS": "nonDerivativeTable/nonDerivativeTransaction",
    "DERIV_TRANS": "derivativeTable/derivativeTransaction",
    "NONDERIV_HOLDING": "nonDerivativeTable/nonDerivativeHolding",
    "DERIV_HOLDING": "derivativeTable/derivativeHolding",
}


def _ddmon(text: str | None) -> str:
    text = (text or "").strip()[:10]
    return date.fromisoformat(text).strftime("%d-%b-%Y").upper() if text else ""


def _value(row: ET.Element, path: str) -> str:
    node = row.find(path + "/value")
    node = row.find(path) if node is None else node
    return (node.text or "").strip() if node is not None else ""


def _ids(node: ET.Element | None) -> str:
    return ", ".join(dict.fromkeys(f.get("id", "") for f in node.iter("footnoteId"))) if node is not None else ""


def flatten_xml(paths: dict[str, Path], folder: Path) -> None:
    headers = {
        "SUBMISSION": header_of(Q2_SUBMISSION), "REPORTINGOWNER": header_of(Q2_OWNERS),
        "NONDERIV_TRANS": header_of(Q2_TRANS), "DERIV_TRANS": header_of(Q3 / "DERIV_TRANS.tsv"),
        "NONDERIV_HOLDING": header_of(Q3 / "NONDERIV_HOLDING.tsv"),
        "DERIV_HOLDING": header_of(Q3 / "DERIV_HOLDING.tsv"),
        "FOOTNOTES": ["ACCESSION_NUMBER", "FOOTNOTE_ID", "FOOTNOTE_TXT"],
    }
    rows: dict[str, list[dict[str, str]]] = {t: [] for t in headers}
    sk = 1000
    for accession, path in paths.items():
        root = ET.parse(path).getroot()
        issuer = root.find("issuer")
        assert issuer is not None
        rows["SUBMISSION"].append({
            "ACCESSION_NUMBER": accession, "PERIOD_OF_REPORT": _ddmon(root.findtext("periodOfReport")),
            "DATE_OF_ORIG_SUB": _ddmon(root.findtext("dateOfOriginalSubmission")),
            "NOT_SUBJECT_SEC16": root.findtext("notSubjectToSection16") or "",
            "DOCUMENT_TYPE": root.findtext("documentType") or "", "ISSUERCIK": issuer.findtext("issuerCik") or "",
            "ISSUERNAME": issuer.findtext("issuerName") or "",
            "ISSUERTRADINGSYMBOL": issuer.findtext("issuerTradingSymbol") or "",
            "REMARKS": root.findtext("remarks") or "", "AFF10B5ONE": root.findtext("aff10b5One") or "",
        })
        for owner in root.findall("reportingOwner"):
            rel = owner.find("reportingOwnerRelationship")
            assert rel is not None
            roles = [name for tag, name in (("isDirector", "Director"), ("isOfficer", "Officer"),
                                            ("isTenPercentOwner", "TenPercentOwner"), ("isOther", "Other"))
                     if (rel.findtext(tag) or "").strip().lower() in ("1", "true")]
            rows["REPORTINGOWNER"].append({
                "ACCESSION_NUMBER": accession, "RPTOWNERCIK": owner.findtext("reportingOwnerId/rptOwnerCik") or "",
                "RPTOWNERNAME": owner.findtext("reportingOwnerId/rptOwnerName") or "",
                "RPTOWNER_RELATIONSHIP": ",".join(roles), "RPTOWNER_TITLE": rel.findtext("officerTitle") or "",
                "RPTOWNER_TXT": rel.findtext("otherText") or "",
            })
        for note in root.findall("footnotes/footnote"):
            rows["FOOTNOTES"].append({"ACCESSION_NUMBER": accession, "FOOTNOTE_ID": note.get("id", ""),
                                      "FOOTNOTE_TXT": "".join(note.itertext())})
        for table, xpath in _XML_TABLES.items():
            for element in root.findall(xpath):
                sk += 1
                row = {"ACCESSION_NUMBER": accession, f"{table}_SK": str(sk)}
                for column in headers[table]:
                    if column in _XML_FIELDS:
                        value = _value(element, _XML_FIELDS[column])
                        row[column] = _ddmon(value) if column.endswith("_DATE") else value
                    elif column.endswith("_FN") and column[:-3] in _XML_FIELDS:
                        row[column] = _ids(element.find(_XML_FIELDS[column[:-3]]))
                coding = element.find("transactionCoding")
                if coding is not None:
                    row["TRANS_CODE"] = coding.findtext("transactionCode") or ""
                    row["EQUITY_SWAP_INVOLVED"] = coding.findtext("equitySwapInvolved") or ""
                    row["EQUITY_SWAP_TRANS_CD_FN"] = _ids(coding)
                rows[table].append(row)
    for table, header in headers.items():
        write_tsv(folder / f"{table}.tsv", header, [[r.get(c, "") for c in header] for r in rows[table]])


def test_the_loader_reads_the_xml_corpus_as_the_xml_parser_does(tmp_path: Path) -> None:
    """Every Form 3/4/5 XML of the corpus whose file name gives its accession, flattened into data set tables:
    the filings read back equal the XML parser's (but for what the data sets lack: schema version, times).
    This pins the mapping and the footnote reading (plan, adoption date, sell-to-cover, weighted average)."""
    paths: dict[str, Path] = {}
    for path in sorted(FORM4.glob("*.xml")):
        m = re.search(r"\d{10}-\d{2}-\d{6}", path.name)
        if m and m.group(0) not in paths:
            paths[m.group(0)] = path
    folder = tmp_path / "corpus"
    folder.mkdir()
    flatten_xml(paths, folder)
    filings, rejected = read_all(folder, tmp_path)
    assert rejected == [] and len(filings) == len(paths) > 300
    flagged = 0
    for accession, path in paths.items():
        expected = dataclasses.replace(parse_document(path.read_bytes(), source=str(path)), schema_version=None)
        assert filings[accession] == expected, path.name
        flagged += any(t.plan_footnote or t.weighted_average_price or t.sell_to_cover for t in expected.transactions)
    assert flagged > 50  # the footnote reading was exercised, not just empty flags compared


# ---------------------------------------------------------------------------------- what the loader does


async def test_2024q3_as_shipped_in_the_fixtures_is_refused(store: Store) -> None:
    with pytest.raises(DatasetError) as err:
        await load_dataset(store, Q3)
    message = str(err.value)
    assert "REPORTINGOWNER" in message and "NONDERIV_TRANS" in message and "2024q3" in message
    assert (await counts(store))["filings"] == 0


async def test_2025q2_excerpts_as_shipped_store_nothing_and_say_why(store: Store) -> None:
    # The SUBMISSION excerpt shares no accession with the other two excerpts: no filing can be built.
    report = await load_dataset(store, Q2)
    assert (report.files, report.added) == (30, 0)
    reasons = Counter(reason for _, reason in report.quarantined)
    assert reasons["no reporting owner in REPORTINGOWNER"] == 30
    assert "2025q2!NONDERIV_TRANS" in dict(report.quarantined)
    assert "83 row(s)" in dict(report.quarantined)["2025q2!NONDERIV_TRANS"]
    before = await counts(store)
    assert before["filings"] == 0 and before["quarantined"] == 32
    await load_dataset(store, Q2)
    assert await counts(store) == before  # the quarantine is not filled twice


async def test_rerun_is_idempotent(tmp_path: Path, store: Store) -> None:
    folder = q2_folder(tmp_path)
    first = await load_dataset(store, folder)
    assert (first.added, first.duplicates) == (3, 0)
    after_first = await counts(store)
    assert (after_first["filings"], after_first["transactions"]) == (3, 27)
    assert after_first["insiders"] == 12  # 1 + 10 + 1 owners
    second = await load_dataset(store, folder)
    assert (second.added, second.duplicates) == (0, 3)
    assert await counts(store) == after_first


def test_shuffled_columns_and_an_unknown_column_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain, _ = read_all(q2_folder(tmp_path / "a"), tmp_path / "a")
    folder = q2_folder(tmp_path / "b")
    rows = read_tsv(folder / Q2_TRANS.name)
    order = list(range(len(rows[0])))
    random.Random(6).shuffle(order)
    (folder / Q2_TRANS.name).unlink()
    write_tsv(folder / "NONDERIV_TRANS.tsv", [rows[0][i] for i in order] + ["SOMETHING_NEW"],
              [[r[i] for i in order] + ["x"] for r in rows[1:]])
    assert header_of(folder / "NONDERIV_TRANS.tsv")[0] != "ACCESSION_NUMBER"
    shuffled, _ = read_all(folder, tmp_path / "b")
    assert shuffled == plain and len(plain) == 3


async def test_a_missing_required_column_is_named(tmp_path: Path, store: Store) -> None:
    folder = q2_folder(tmp_path)
    rows = read_tsv(folder / Q2_TRANS.name)
    drop = rows[0].index("TRANS_CODE")
    write_tsv(folder / Q2_TRANS.name, [h for i, h in enumerate(rows[0]) if i != drop],
              [[v for i, v in enumerate(r) if i != drop] for r in rows[1:]])
    with pytest.raises(DatasetError) as err:
        await load_dataset(store, folder)
    assert "NONDERIV_TRANS_excerpt_first83rows.tsv" in str(err.value) and "TRANS_CODE" in str(err.value)
    assert (await counts(store))["filings"] == 0


async def test_a_malformed_row_sets_its_filing_aside(tmp_path: Path, store: Store) -> None:
    folder = q2_folder(tmp_path)
    rows = read_tsv(folder / Q2_TRANS.name)
    write_tsv(folder / Q2_TRANS.name, rows[0], [*rows[1:], [BERG, "9999999", "Common Stock"]])  # a row cut short
    report = await load_dataset(store, folder)
    assert report.added == 2
    assert BERG in dict(report.quarantined) and "fields where the header has 28" in dict(report.quarantined)[BERG]


async def test_a_malformed_submission_row_sets_its_filing_aside(tmp_path: Path, store: Store) -> None:
    folder = q2_folder(tmp_path)
    rows = read_tsv(folder / "SUBMISSION.tsv")
    rows[1] = rows[1][:5]  # Getsinger's row cut short
    write_tsv(folder / "SUBMISSION.tsv", rows[0], rows[1:])
    report = await load_dataset(store, folder)
    assert report.added == 2
    quarantined = dict(report.quarantined)
    assert "5 fields where the header has 14" in quarantined[GETSINGER]
    # Its owner and rows are not orphans: the filing is set aside whole, once.
    assert quarantined["2025q2!NONDERIV_TRANS"].startswith(f"{83 - 3 - 22 - 2} row(s)")


async def test_a_truncated_zip_stores_nothing(tmp_path: Path, store: Store) -> None:
    archive = make_zip(q2_folder(tmp_path), tmp_path / "2025q2_form345.zip")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetCorrupt) as err:
        await load_dataset(store, archive)
    assert "2025q2_form345.zip is not a complete zip archive" in str(err.value)
    assert (await counts(store))["filings"] == 0


async def test_a_damaged_zip_member_stores_nothing(tmp_path: Path, store: Store) -> None:
    archive = make_zip(q2_folder(tmp_path), tmp_path / "2025q2_form345.zip")
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(Q2_TRANS.name)
    data = bytearray(archive.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle] ^= 0xFF  # one flipped byte in the compressed NONDERIV_TRANS
    archive.write_bytes(bytes(data))
    with pytest.raises(DatasetCorrupt):
        await load_dataset(store, archive)
    assert (await counts(store))["filings"] == 0


async def test_a_zip_loads_like_its_folder(tmp_path: Path, store: Store) -> None:
    archive = make_zip(q2_folder(tmp_path), tmp_path / "2025q2_form345.zip")
    seen: list[tuple[str, int, int | None]] = []
    report = await load_dataset(store, archive, progress=lambda *a: seen.append(a))
    assert report.added == 3
    assert seen[-1] == ("load", 3, 3) and any(stage == "read" for stage, _, _ in seen)


# ------------------------------------------------------------------------------------ download (fake EDGAR)


async def test_backfill_downloads_through_the_edgar_client(tmp_path: Path, store: Store,
                                                           edgar_fake: EdgarFake) -> None:
    body = make_zip(q2_folder(tmp_path), tmp_path / "served.zip").read_bytes()
    edgar_fake.route(ZIP_PATH.format("2025q2"), FakeResponse(body=body, content_type="application/zip"))
    cache = tmp_path / "cache"
    stages: list[str] = []

    results = await backfill_quarters(store, edgar_fake.settings(), ["2025q2", "2026q4"], cache_dir=cache,
                                      progress=lambda stage, done, total: stages.append(stage))
    report = results["2025q2"]
    assert isinstance(report, IngestReport) and report.added == 3
    assert results["2026q4"].startswith("2026q4 is not published yet")
    [download] = edgar_fake.requests_for(ZIP_PATH.format("2025q2"))
    assert download.headers["User-Agent"] == TEST_USER_AGENT
    assert (cache / "2025q2_form345.zip").read_bytes() == body
    assert not list(cache.glob("*.part"))
    assert {"2025q2 download", "2025q2 read", "2025q2 load"} <= set(stages)
    loaded = json.loads((cache / "loaded.json").read_text())
    assert [q for entry in loaded.values() for q in entry] == ["2025q2"]

    # Again: nothing downloaded, nothing loaded, counts unchanged.
    before = await counts(store)
    again = await backfill_quarters(store, edgar_fake.settings(), ["2025q2"], cache_dir=cache)
    assert edgar_fake.count(ZIP_PATH.format("2025q2")) == 1
    assert isinstance(again["2025q2"], IngestReport) and again["2025q2"].files == 0
    assert again["2025q2"].duplicates == 3
    forced = await backfill_quarters(store, edgar_fake.settings(), ["2025q2"], cache_dir=cache, force=True)
    assert isinstance(forced["2025q2"], IngestReport) and (forced["2025q2"].added, forced["2025q2"].duplicates) == (0, 3)
    assert edgar_fake.count(ZIP_PATH.format("2025q2")) == 1  # from the cache
    assert await counts(store) == before


async def test_backfill_resumes_after_an_interrupted_download_and_a_half_load(
    tmp_path: Path, store: Store, edgar_fake: EdgarFake
) -> None:
    body = make_zip(q2_folder(tmp_path), tmp_path / "served.zip").read_bytes()
    edgar_fake.route(ZIP_PATH.format("2025q2"), FakeResponse(body=body, content_type="application/zip"))
    cache = tmp_path / "cache"
    cache.mkdir()
    # An earlier run died mid-download, after storing one of the quarter's filings.
    (cache / "2025q2_form345.zip.part").write_bytes(body[:1000])
    one = tmp_path / "one"
    one.mkdir()
    for name in (Q2_OWNERS.name, Q2_TRANS.name):
        shutil.copy(Q2_OWNERS.parent / name, one / name)
    write_tsv(one / "SUBMISSION.tsv", header_of(Q2_SUBMISSION), [made_submission(BERG, issuer=9_000_003,
                                                                                       aff="false")])
    assert (await load_dataset(store, one)).added == 1

    results = await backfill_quarters(store, edgar_fake.settings(), ["2025q2"], cache_dir=cache)
    report = results["2025q2"]
    assert isinstance(report, IngestReport) and (report.added, report.duplicates) == (2, 1)
    assert (cache / "2025q2_form345.zip").read_bytes() == body


async def test_a_damaged_cached_zip_is_downloaded_again(tmp_path: Path, store: Store,
                                                        edgar_fake: EdgarFake) -> None:
    body = make_zip(q2_folder(tmp_path), tmp_path / "served.zip").read_bytes()
    edgar_fake.route(ZIP_PATH.format("2025q2"), FakeResponse(body=body, content_type="application/zip"))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "2025q2_form345.zip").write_bytes(body[: len(body) // 3])
    results = await backfill_quarters(store, edgar_fake.settings(), ["2025q2"], cache_dir=cache)
    assert isinstance(results["2025q2"], IngestReport) and results["2025q2"].added == 3
    assert edgar_fake.count(ZIP_PATH.format("2025q2")) == 1


async def test_an_html_page_instead_of_the_zip(tmp_path: Path, store: Store, edgar_fake: EdgarFake) -> None:
    edgar_fake.route(ZIP_PATH.format("2025q2"), FakeResponse.html("<html><body>Request Rate</body></html>"))
    results = await backfill_quarters(store, edgar_fake.settings(), ["2025q2"], cache_dir=tmp_path / "c")
    assert "HTML page instead of 2025q2_form345.zip" in results["2025q2"]
    assert not (tmp_path / "c" / "2025q2_form345.zip").exists()


async def test_a_403_stops_the_remaining_quarters(tmp_path: Path, store: Store, edgar_fake: EdgarFake) -> None:
    edgar_fake.route(ZIP_PATH.format("2025q1"), FakeResponse(status=403, body=b"Undeclared Automated Tool"))
    results = await backfill_quarters(store, edgar_fake.settings(), ["2025q1", "2025q2"], cache_dir=tmp_path)
    assert results["2025q1"] == results["2025q2"] and "403" in results["2025q1"]
    assert edgar_fake.count(ZIP_PATH.format("2025q2")) == 0


# ---------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(("spec", "expected"), [
    ("2024q1:2025q3", ["2024q1", "2024q2", "2024q3", "2024q4", "2025q1", "2025q2", "2025q3"]),
    ("2024Q3", ["2024q3"]),
    ("2024q4, 2024q1:2024q2", ["2024q4", "2024q1", "2024q2"]),
])
def test_parse_quarters(spec: str, expected: list[str]) -> None:
    assert parse_quarters(spec) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("2025q3:2024q1", "ends before it starts"),
    ("2024q5", "not a quarter"),
    ("2024-3", "not a quarter"),
    ("2005q4", "start with 2006q1"),
    ("", "no quarter"),
])
def test_parse_quarters_refuses(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_quarters(spec)


async def test_the_backfill_command(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    add_backfill_command(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):  # --quarters and --path exclude each other
        parser.parse_args(["backfill", "--quarters", "2024q1", "--path", "x"])
    db = tmp_path / "cli.db"
    args = parser.parse_args(["--db", str(db), "backfill", "--path", str(q2_folder(tmp_path)), str(Q3)])
    out = io.StringIO()
    status = await args.func(args, Console(file=out, width=200))
    text = out.getvalue()
    assert status == 1  # the second path (2024 Q3 as shipped) was refused
    assert "3 filing(s) added" in text and "lacks the REPORTINGOWNER, NONDERIV_TRANS" in text
    args = parser.parse_args(["--db", str(db), "backfill", "--quarters", "2026q9"])
    assert await cmd_backfill(args, Console(file=io.StringIO())) == 2
