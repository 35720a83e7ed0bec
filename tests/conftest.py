from __future__ import annotations


import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.store.db import Store

pytest_plugins = ("tests.edgar_fake", "tests.discord_harness")

FIXTURES = Path(__file__).parent / "fixtures"
FORM4 = FIXTURES / "sec" / "form4"


def form4(name_prefix: str) -> Path:
    """The corpus file whose name starts with the prefix, e.g. 'TSLA_0000899243-21-044060'."""
    matches = sorted(FORM4.glob(f"{name_prefix}*.xml"))
    assert len(matches) == 1, f"{name_prefix}: {matches}"
    return matches[0]


def read_rows(path: Path) -> list[dict[str, str]]:
    """An independent, deliberately naive reading of a filing's non-derivative rows (the test's oracle)."""
    root = ET.parse(path).getroot()
    rows = []
    for t in root.iter("nonDerivativeTransaction"):
        def text(p: str) -> str:
            return (t.findtext(p) or "").strip()

        rows.append(
            {
                "date": text("transactionDate/value")[:10],
                "code": text("transactionCoding/transactionCode"),
                "shares": text("transactionAmounts/transactionShares/value"),
                "price": text("transactionAmounts/transactionPricePerShare/value"),
                "after": text("postTransactionAmounts/sharesOwnedFollowingTransaction/value"),
            }
        )
    return rows


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "test.db")
    yield s
    await s.close()
