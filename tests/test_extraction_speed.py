"""What makes extraction cheaper must not change what it finds: the byline search spelt without
regular expressions selects what trafilatura's selects, a page's declared date is kept without
htmldate's second opinion, and workers start without importing the whole program."""

import gzip
import os
import subprocess
import sys
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.xpaths import AUTHOR_DISCARD_XPATHS, AUTHOR_XPATHS

from crawler.extraction import page
from tests.conftest import REPO, need_golden

# Every pattern of trafilatura's byline and discard expressions, hit and narrowly missed.
CLASSES = [
    "author", "Author", "author-name", "authorname", "AuthorName", "authorName", "byline",
    "Byline", "byl", "BBL", "username", "screenname", "writer", "zuozhe", "bianji", "xiaobian",
    "channel-name", "submitted-by", "posted-by", "journalist-name", "comments", "Comments-box",
    "x-comments", "commentlist", "comments-list", "sidebar", "is-hidden", "quote",
    "embedly-instagram", "article-share", "article-support", "article-other", "print",
    "category", "meta-date", "meta-reviewer", "title", "date", "auth", "AUTHOR", "by-line",
]  # fmt: skip
IDS = ["author", "Author", "comments", "comments-1", "my-comments", "commentlist",
       "comment-list", "ProductReviews", "zuozhe", "bianji", "xiaobian", "writer"]  # fmt: skip
TAGS = ["a", "address", "div", "link", "p", "span", "strong", "h3", "h4", "section", "li"]


def synthetic_page() -> str:
    parts = []
    for i, tag in enumerate(TAGS):
        for c in CLASSES:
            parts.append(f'<{tag} class="{c}">By Writer {i} {c}</{tag}>')
        for d in IDS:
            parts.append(f'<{tag} id="{d}">By Writer {i} {d}</{tag}>')
        parts.append(f'<{tag} itemprop="author name">Item {i}</{tag}>')
        parts.append(f'<{tag} itemprop="reviewer author">Item {i}</{tag}>')
        parts.append(f'<{tag} rel="author">Rel {i}</{tag}>')
        parts.append(f'<{tag} data-testid="AuthorCard">Card {i}</{tag}>')
        parts.append(f'<{tag} data-component="Byline">Comp {i}</{tag}>')
        parts.append(f'<{tag} data-component="FigureCaption">Fig {i}</{tag}>')
    body = "<time>Today</time><figure>Photo</figure><author>Tag Author</author>"
    return f"<html><body>{body}{''.join(parts)}</body></html>"


def selections(html: str) -> tuple[list[list[str]], list[list[str]]]:
    """What trafilatura's expressions and ours select (after each prunes its own copy)."""
    tree = page.parse_html(html)
    assert tree is not None
    theirs, ours = deepcopy(tree), deepcopy(tree)
    prune_unwanted_nodes(theirs, AUTHOR_DISCARD_XPATHS)
    prune_unwanted_nodes(ours, page._AUTHOR_DISCARD)

    def named(found: list[object]) -> list[str]:
        return [page.readable_title(" ".join(e.itertext())) for e in found]  # type: ignore[attr-defined]

    return [named(x(theirs)) for x in AUTHOR_XPATHS], [named(x(ours)) for x in page._AUTHOR]


def test_the_byline_search_selects_what_trafilaturas_selects() -> None:
    theirs, ours = selections(synthetic_page())
    assert all(theirs), "every expression should find something on the synthetic page"
    assert ours == theirs


def test_the_byline_search_agrees_on_every_golden_page() -> None:
    realworld = need_golden()
    pages = sorted(realworld.glob("*/*.html.gz"))
    assert len(pages) >= 34
    for path in pages:
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        theirs, ours = selections(html)
        assert ours == theirs, path.name


def test_a_byline_is_the_author_when_the_page_declares_none() -> None:
    text = "The committee met on Tuesday to discuss the budget and its many consequences. " * 4
    html = (
        "<html><head><title>Budget talks</title></head><body><article><h1>Budget talks</h1>"
        f'<div class="comments">By Someone Else</div><span class="byline">By Sana Mir</span>'
        f"<p>{text}</p></article></body></html>"
    )
    x = page.extract_page(html, "https://news.example/budget")
    assert x is not None and x.author == "Sana Mir"


def test_a_declared_date_stands_even_when_the_text_suggests_another() -> None:
    text = "Officials said on 3 March 2019 that the plan had been agreed the previous week. " * 4
    html = (
        '<html><head><meta property="article:published_time" content="2024-05-02T08:15:00Z">'
        "<title>Plan agreed</title></head><body><article><h1>Plan agreed</h1>"
        f"<time datetime='2019-03-03'>3 March 2019</time><p>{text}</p></article></body></html>"
    )
    x = page.extract_page(html, "https://news.example/2019/03/03/plan")
    assert x is not None and x.date_declared
    assert x.published == datetime(2024, 5, 2, 8, 15, tzinfo=UTC)


PROGRAM = """
import asyncio, os, pathlib
if __name__ == "__mp_main__":  # a worker re-running the program's main module
    pathlib.Path(os.environ["MW_MARKER"]).write_text("imported")
if __name__ == "__main__":
    from benchmarks.pathological import good_article
    from crawler.extraction.pool import Extractor

    async def main():
        pool = Extractor(1)
        try:
            x = await pool.extract(good_article(), "http://127.0.0.1/opinion/1/good", ())
        finally:
            pool.close()
        print("extracted" if x is not None else "nothing")

    asyncio.run(main())
"""


@pytest.mark.timeout(120)
def test_a_worker_does_not_rerun_the_programs_main_module(tmp_path: Path) -> None:
    """multiprocessing re-runs __main__ in every new process; for `mediawatch` that would
    import the whole program (and its second of CPU) into each extraction worker."""
    script, marker = tmp_path / "program.py", tmp_path / "marker"
    script.write_text(PROGRAM)
    env = {**os.environ, "MW_MARKER": str(marker), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "extracted", done.stderr
    assert not marker.exists()
