"""Extraction quality on the real pages in ../shared/realworld, as numbers (trafilatura's gate)."""

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from crawler.extraction.page import extract_page

REALWORLD = Path(__file__).resolve().parent.parent.parent / "shared" / "realworld"


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(got: str, want: str) -> float:
    g, w = Counter(tokens(got)), Counter(tokens(want))
    common = sum((g & w).values())
    if not common:
        return 0.0
    precision, recall = common / sum(g.values()), common / sum(w.values())
    return 2 * precision * recall / (precision + recall)


def page(folder: str, name: str) -> str:
    return gzip.decompress((REALWORLD / folder / name).read_bytes()).decode("utf-8", "replace")


@dataclass
class Scores:
    date_exact: float
    date_n: int
    body_f1: float
    body_n: int
    title_exact: float
    title_n: int


def measure() -> Scores:
    dates = json.loads((REALWORLD / "htmldate" / "expected.json").read_text())
    date_hits = 0
    for e in dates:
        x = extract_page(page("htmldate", e["file"]), e["url"])
        date_hits += bool(x and x.published and x.published.date().isoformat() == e["published"])
    f1s: list[float] = []
    aeb = json.loads((REALWORLD / "aeb" / "ground-truth.json").read_text())
    for key, e in aeb.items():
        x = extract_page(page("aeb", f"{key}.html.gz"), e["url"])
        f1s.append(token_f1(x.text if x else "", e["articleBody"]))
    fundus = json.loads((REALWORLD / "fundus" / "expected.json").read_text())
    title_hits = 0
    for name, e in fundus.items():
        x = extract_page(page("fundus", name), e["url"])
        f1s.append(token_f1(x.text if x else "", "\n".join(e["paragraphs"])))
        title_hits += bool(x and x.title == e["title"])
    return Scores(
        date_hits / len(dates),
        len(dates),
        sum(f1s) / len(f1s),
        len(f1s),
        title_hits / len(fundus),
        len(fundus),
    )


if __name__ == "__main__":
    print(measure())
