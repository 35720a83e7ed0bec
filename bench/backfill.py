"""Load a synthetic quarter of SEC's Insider Transactions Data Sets into a fresh store.

The quarter is written in the real format (the real files' headers, DD-MON-YYYY dates, "F1, F2" footnote
cells, joint filings, 4/A rows, Forms 3 and 5, quoted remarks) at the size of a real one: ~36,000 submissions,
~100,000 non-derivative rows. ``--scale 10`` makes it ten times larger.

Run: .venv/bin/python bench/backfill.py [--scale N] [--zip]    Targets (scale 1): <= 60 s, <= 500 MB peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import random
import resource
import sys
import tempfile
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.backfill import load_dataset
from bot.store.db import Store

FIXTURES = ROOT / "tests" / "fixtures" / "form345"

SUBMISSIONS = 36_000
NONDERIV_ROWS = 100_000
DERIV_ROWS = 19_000
NONDERIV_HOLDINGS = 18_000
DERIV_HOLDINGS = 8_000

NOTES = [
    ("The price reported in Column 4 is a weighted average price. These shares were sold in multiple transactions "
     "at prices ranging from ${lo} to ${hi}, inclusive. The reporting person undertakes to provide to the issuer, "
     "any security holder of the issuer, or the staff of the Securities and Exchange Commission, upon request, "
     "full information regarding the number of shares sold at each separate price."),
    ("The transactions reported on this Form 4 were effected pursuant to a Rule 10b5-1 trading plan adopted by the "
     "reporting person on {adopted}."),
    ("Represents shares sold to cover tax withholding obligations in connection with the vesting of restricted "
     "stock units."),
    "Each restricted stock unit represents a contingent right to receive one share of the issuer's common stock.",
    "The shares are held by a family trust of which the reporting person is a trustee.",
]


def header(name: str) -> list[str]:
    """The real header of a table: from a fixture file, or from SEC's metadata for tables not in the fixtures."""
    files = sorted(FIXTURES.glob(f"*/{name}*.tsv"))
    if files:
        with open(files[-1], encoding="utf-8", newline="") as f:
            return next(csv.reader(f, delimiter="\t"))
    meta = json.loads((FIXTURES / "2025q2" / "FORM_345_metadata.json").read_text(encoding="utf-8"))
    [table] = [t for t in meta["tables"] if t["url"] == f"{name}.tsv"]
    return [c["name"] for c in table["tableSchema"]["columns"]]


def ddmon(day: date) -> str:
    return day.strftime("%d-%b-%Y").upper()


class Table:
    def __init__(self, file: TextIO, name: str) -> None:
        self.columns = header(name)
        self._writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        self._writer.writerow(self.columns)
        self.rows = 0

    def write(self, values: dict[str, object]) -> None:
        self._writer.writerow([values.get(c, "") for c in self.columns])
        self.rows += 1


def synthesize(folder: Path, scale: int, seed: int = 11) -> dict[str, int]:
    names = ("SUBMISSION", "REPORTINGOWNER", "NONDERIV_TRANS", "DERIV_TRANS", "NONDERIV_HOLDING", "DERIV_HOLDING",
             "FOOTNOTES")
    with contextlib.ExitStack() as stack:
        tables = {
            n: Table(stack.enter_context(open(folder / f"{n}.tsv", "w", encoding="utf-8", newline="")), n)
            for n in names
        }
        _fill(tables, scale, random.Random(seed))
    return {name: t.rows for name, t in tables.items()}


def _fill(tables: dict[str, Table], scale: int, rng: random.Random) -> None:
    n_sub = SUBMISSIONS * scale
    start = date(2025, 4, 1)
    issuers = [(1_000_000 + i, f"Synthetic Issuer {i} Inc.", f"S{i:04d}") for i in range(6_000 * scale)]
    sk = 7_000_000
    # Spread the rows over the filings with the real ratios (a filing has 0..30 rows, most 1..4).
    per_filing = {
        "NONDERIV_TRANS": NONDERIV_ROWS / SUBMISSIONS, "DERIV_TRANS": DERIV_ROWS / SUBMISSIONS,
        "NONDERIV_HOLDING": NONDERIV_HOLDINGS / SUBMISSIONS, "DERIV_HOLDING": DERIV_HOLDINGS / SUBMISSIONS,
    }
    for n in range(n_sub):
        accession = f"{9_000_000_000 + n % 997:010d}-25-{n:06d}"
        cik, name, ticker = issuers[rng.randrange(len(issuers))]
        filed = start + timedelta(days=rng.randrange(90))
        period = filed - timedelta(days=rng.randrange(1, 4))
        kind = rng.random()
        doc = "4" if kind < 0.90 else "3" if kind < 0.98 else "4/A" if kind < 0.995 else "5"
        tables["SUBMISSION"].write({
            "ACCESSION_NUMBER": accession, "FILING_DATE": ddmon(filed), "PERIOD_OF_REPORT": ddmon(period),
            "DATE_OF_ORIG_SUB": ddmon(period + timedelta(days=2)) if doc == "4/A" else "",
            "NOT_SUBJECT_SEC16": rng.choice(["0", "false", ""]), "DOCUMENT_TYPE": doc, "ISSUERCIK": f"{cik:010d}",
            "ISSUERNAME": name, "ISSUERTRADINGSYMBOL": ticker,
            "REMARKS": 'Exhibit 24 - Power of Attorney; the "Reporting Person"' if rng.random() < 0.2 else "",
            "AFF10B5ONE": rng.choice(["0", "0", "0", "1", "false", "true", ""]),
        })
        owners = 1 if rng.random() < 0.92 else rng.randrange(2, 6)  # joint filings
        for k in range(owners):
            role = rng.choice(["Director", "Officer", "TenPercentOwner", "Director,Officer", "Other"])
            tables["REPORTINGOWNER"].write({
                "ACCESSION_NUMBER": accession, "RPTOWNERCIK": f"{2_000_000 + (cik * 7 + k * 13) % 900_000:010d}",
                "RPTOWNERNAME": f"Insider {cik % 9973} {k}", "RPTOWNER_RELATIONSHIP": role,
                "RPTOWNER_TITLE": "Chief Financial Officer" if "Officer" in role else "",
                "RPTOWNER_STREET1": "1 MAIN STREET", "RPTOWNER_CITY": "SPRINGFIELD", "RPTOWNER_STATE": "IL",
                "RPTOWNER_ZIPCODE": "62701", "FILE_NUMBER": "001-12345",
            })
        notes = rng.randrange(0, 5)
        for i in range(1, notes + 1):
            text = NOTES[rng.randrange(len(NOTES))].format(
                lo=f"{rng.uniform(10, 200):.2f}", hi=f"{rng.uniform(200, 400):.2f}",
                adopted=(filed - timedelta(days=rng.randrange(90, 400))).strftime("%B %d, %Y"))
            tables["FOOTNOTES"].write({"ACCESSION_NUMBER": accession, "FOOTNOTE_ID": f"F{i}", "FOOTNOTE_TXT": text})

        def fn(notes: int = notes) -> str:
            if not notes or rng.random() < 0.6:
                return ""
            return ", ".join(f"F{rng.randrange(1, notes + 1)}" for _ in range(rng.choice([1, 1, 2])))

        held = float(rng.randrange(1_000, 2_000_000))
        for table, mean in per_filing.items():
            count = min(30, int(rng.expovariate(1 / mean) + rng.random()))  # mean rows per filing = mean
            for _ in range(count):
                sk += 1
                shares = float(rng.randrange(1, 50_000))
                row: dict[str, object] = {
                    "ACCESSION_NUMBER": accession, f"{table}_SK": sk, "SECURITY_TITLE": "Common Stock",
                    "SECURITY_TITLE_FN": fn(), "SHRS_OWND_FOLWNG_TRANS": held, "SHRS_OWND_FOLWNG_TRANS_FN": fn(),
                    "DIRECT_INDIRECT_OWNERSHIP": rng.choice("DDDI"), "TRANS_FORM_TYPE": "4",
                }
                if row["DIRECT_INDIRECT_OWNERSHIP"] == "I":
                    row["NATURE_OF_OWNERSHIP"] = "By Trust"
                if table.endswith("TRANS"):
                    code = rng.choice("SSSSPPAAMMFGJ")
                    row.update({
                        "TRANS_DATE": ddmon(period), "TRANS_CODE": code, "EQUITY_SWAP_INVOLVED": "0",
                        "TRANS_SHARES": shares, "TRANS_SHARES_FN": fn(),
                        "TRANS_PRICEPERSHARE": round(rng.uniform(1, 500), 4) if code in "SPF" else 0.0,
                        "TRANS_PRICEPERSHARE_FN": fn(), "TRANS_ACQUIRED_DISP_CD": "D" if code in "SFGD" else "A",
                        "EQUITY_SWAP_TRANS_CD_FN": fn(),
                    })
                    held = max(0.0, held - shares if code in "SFG" else held + shares)
                if table.startswith("DERIV"):
                    row.update({
                        "SECURITY_TITLE": "Stock Option (right to buy)", "CONV_EXERCISE_PRICE": 12.5,
                        "EXCERCISE_DATE": ddmon(period), "EXERCISE_DATE": ddmon(period),
                        "EXPIRATION_DATE": ddmon(period + timedelta(days=3650)), "UNDLYNG_SEC_TITLE": "Common Stock",
                        "UNDLYNG_SEC_SHARES": shares,
                    })
                tables[table].write(row)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


async def main(scale: int, as_zip: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        folder = Path(tmp) / "2025q9_form345"
        folder.mkdir()
        t0 = time.perf_counter()
        rows = synthesize(folder, scale)
        size = sum(p.stat().st_size for p in folder.iterdir())
        source: Path = folder
        if as_zip:
            source = Path(tmp) / "2025q9_form345.zip"
            with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted(folder.iterdir()):
                    z.write(p, p.name)
        print(f"synthesized {', '.join(f'{k} {v:,}' for k, v in rows.items())}")
        print(f"  {size / 1e6:.1f} MB of TSV{' (zipped: %.1f MB)' % (source.stat().st_size / 1e6) if as_zip else ''} "
              f"in {time.perf_counter() - t0:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB")
        store = await Store.open(Path(tmp) / "bench.db")
        start = time.perf_counter()
        report = await load_dataset(store, source, workdir=Path(tmp))
        elapsed = time.perf_counter() - start
        counts = await store.trades.counts()
        await store.close()
    print(f"loaded: {report.summary()}; store: {counts['filings']:,} filings, {counts['transactions']:,} rows")
    print(f"load time {elapsed:.1f} s (target <= 60 s at scale 1); peak RSS {peak_rss_mb():.0f} MB "
          f"(target <= 500 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="multiply the quarter's size (default 1)")
    parser.add_argument("--zip", action="store_true", help="load it from a zip, as downloaded")
    args = parser.parse_args()
    asyncio.run(main(args.scale, args.zip))
