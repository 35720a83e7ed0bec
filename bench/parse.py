"""How fast does the Form 4 parser go? Prints documents per second and microseconds per document.

    .venv/bin/python bench/parse.py [--seconds 3] [--corpus DIR]

Loads every ``*.xml`` of the Form 4 corpus into memory (the repo copy, tests/fixtures/sec/form4, else the shared
one), then parses it over and over on one core for about ``--seconds``. For scale it also times lxml's parse
alone (no walk, no records): the floor any lxml-based parser sits on. No assertion: this prints figures.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree

from bot.sec.form4 import parse_ownership_xml

CANDIDATES = (
    ROOT / "tests" / "fixtures" / "sec" / "form4",
    ROOT.parent / "shared" / "fixtures" / "sec" / "form4",
)


def load(corpus: Path | None) -> tuple[Path, list[tuple[bytes, str]]]:
    folders = (corpus,) if corpus else CANDIDATES
    for folder in folders:
        files = sorted(folder.glob("*.xml"))
        if files:
            return folder, [(f.read_bytes(), f.name) for f in files]
    sys.exit(f"no Form 4 corpus found in {', '.join(str(f) for f in folders)}")


def run(
    docs: list[tuple[bytes, str]], seconds: float, parse_one: Callable[[bytes, str], None]
) -> tuple[int, float]:
    """Whole passes over the corpus until the time is up; returns (documents parsed, elapsed seconds)."""
    count = 0
    start = time.perf_counter()
    while True:
        for data, name in docs:
            parse_one(data, name)
        count += len(docs)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args()

    folder, docs = load(args.corpus)
    size = sum(len(d) for d, _ in docs)
    print(
        f"corpus: {len(docs)} documents, {size / 1e6:.1f} MB ({size / len(docs) / 1e3:.1f} KB mean) from {folder}"
    )

    def full(data: bytes, name: str) -> None:
        # source=name as a real caller passes the path: the accession comes from the file name when present.
        parse_ownership_xml(data, source=name)

    xml_parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)

    def lxml_only(data: bytes, name: str) -> None:
        etree.fromstring(data, xml_parser)

    run(docs, 0.3, full)  # warm up (regex compilation, caches, allocator)
    gc.collect()
    # The corpus leans on 30-row sale waves (17 KB mean); a typical live Form 4 is about 5 KB.
    typical = [(d, n) for d, n in docs if len(d) <= 8_000]
    for label, fn, seconds, subset in (
        ("parse_ownership_xml", full, args.seconds, docs),
        ("lxml parse only (floor)", lxml_only, min(args.seconds, 1.0), docs),
        (f"  documents <= 8 KB ({len(typical)})", full, min(args.seconds, 2.0), typical),
    ):
        count, elapsed = run(subset, seconds, fn)
        print(
            f"{label:<24} {count / elapsed:>9,.0f} docs/s  {elapsed / count * 1e6:>7.1f} µs/doc  ({count} in {elapsed:.2f} s)"
        )


if __name__ == "__main__":
    main()
