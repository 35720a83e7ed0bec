"""Synthetic stores for the benchmarks: real parsed filings cloned under new accessions and dates."""

from __future__ import annotations

import asyncio
import random
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.models import Filing, Owner, Transaction  # noqa: E402
from bot.sec.form4 import parse_document  # noqa: E402
from bot.store.db import Store  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "sec" / "form4"
BIG_STORE = Path("/tmp/insiderflow_bench_1m.db")


def corpus_filings() -> list[Filing]:
    return [parse_document(p.read_bytes(), source=str(p)) for p in sorted(CORPUS.glob("*.xml"))]


def synthetic_filings(count: int, *, issuers: int, rows_per_filing: int, seed: int = 7,
                      start: date = date(2016, 1, 1), days: int = 3650) -> list[Filing]:
    """Filings shaped like real ones (open-market S and P rows mixed with grants and exercises)."""
    rng = random.Random(seed)
    codes = ["S"] * 5 + ["P"] * 2 + ["A", "M", "F"]
    out = []
    for n in range(count):
        issuer = 1_000_000 + rng.randrange(issuers)
        owner = 2_000_000 + (issuer * 7 + rng.randrange(12)) % 900_000
        day = start + timedelta(days=rng.randrange(days))
        held = float(rng.randrange(10_000, 5_000_000))
        rows = []
        for seq in range(rows_per_filing):
            code = rng.choice(codes)
            shares = float(rng.randrange(100, 50_000))
            disposed = code in ("S", "F")
            held = held - shares if disposed else held + shares
            rows.append(Transaction(
                seq=seq, is_derivative=False, security_title="Common Stock", transaction_date=day, code=code,
                acquired_disposed="D" if disposed else "A", shares=shares,
                price=None if code == "A" else round(rng.uniform(5, 500), 2), shares_owned_after=max(held, 0.0),
                direct_indirect="D", plan_footnote=code == "S" and rng.random() < 0.4,
            ))
        out.append(Filing(
            accession=f"9{n:09d}-{day.year % 100:02d}-{n % 1_000_000:06d}", accession_known=True,
            document_type="4", schema_version="X0508", period_of_report=day, date_of_original_submission=None,
            issuer_cik=issuer, issuer_name=f"Issuer {issuer}", ticker=f"T{issuer % 100_000:05d}",
            owners=(Owner(cik=owner, name=f"Insider {owner}", is_officer=True, officer_title="CFO"),),
            transactions=tuple(rows), filed_date=day + timedelta(days=2),
        ))
    return out


async def build_big_store(path: Path = BIG_STORE, rows: int = 1_000_000) -> Path:
    """1,000,000 transactions over 5,000 issuers and ten years (built once, reused)."""
    if path.exists():
        return path
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    store = await Store.open(tmp)
    per = 10
    total = rows // per
    for i in range(0, total, 5_000):
        batch = synthetic_filings(min(5_000, total - i), issuers=5_000, rows_per_filing=per, seed=i)
        batch = [replace(f, accession=f"8{i + k:09d}-00-{(i + k) % 1_000_000:06d}") for k, f in enumerate(batch)]
        await store.filings.ingest_many(batch)
        print(f"  built {min(i + 5_000, total) * per:,} rows", end="\r", flush=True)
    await store.conn.execute("ANALYZE")
    await store.close()
    tmp.rename(path)
    print()
    return path


if __name__ == "__main__":
    asyncio.run(build_big_store())
