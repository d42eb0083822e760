"""What makes extraction cheaper must not change what it finds: the byline search spelt in
Python selects what trafilatura's expressions select, a page's declared date is kept without
htmldate's second opinion, and workers start without importing the whole program."""

import gzip
import os
import random
import subprocess
import sys
import time
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trafilatura
from lxml.etree import tostring
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.metadata import extract_author, extract_meta_json
from trafilatura.settings import Document
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
    """What trafilatura's expressions and ours select, on the page trafilatura prunes first
    (what ours passes over instead: test_the_pruned_parts_are_trafilaturas)."""
    tree = page.parse_html(html)
    assert tree is not None
    theirs, ours = deepcopy(tree), deepcopy(tree)
    prune_unwanted_nodes(theirs, AUTHOR_DISCARD_XPATHS)
    prune_unwanted_nodes(ours, AUTHOR_DISCARD_XPATHS)

    def named(found: list[object]) -> list[str]:
        return [page.readable_title(" ".join(e.itertext())) for e in found]  # type: ignore[attr-defined]

    return [named(x(theirs)) for x in AUTHOR_XPATHS], [
        named(x) for x in page._byline_candidates(ours)
    ]


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


def pruned_parts(html: str) -> tuple[list[str], list[str]]:
    """The elements trafilatura prunes before its byline search, and those ours says it does
    (both in document order)."""
    tree = page.parse_html(html)
    assert tree is not None
    pruned = {e for x in AUTHOR_DISCARD_XPATHS for e in x(tree)}
    elements = [e for e in tree.iter() if isinstance(e.tag, str)]

    def named(found: list[object]) -> list[str]:
        return [page.readable_title(" ".join(e.itertext())) for e in found]  # type: ignore[attr-defined]

    return named([e for e in elements if e in pruned]), named(
        [e for e in elements if page._discarded(e)]
    )


def test_the_pruned_parts_are_trafilaturas() -> None:
    theirs, ours = pruned_parts(synthetic_page())
    assert theirs and ours == theirs
    for path in sorted(need_golden().glob("*/*.html.gz")):
        theirs, ours = pruned_parts(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        assert ours == theirs, path.name


def trafilaturas_text(html: str, url: str) -> str | None:
    tree = page.parse_html(html)
    assert tree is not None
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=False,
        include_comments=False,
        include_tables=False,
        deduplicate=False,
    )
    return None if doc is None or isinstance(doc, dict) else doc.text


def ours_text(html: str, url: str) -> str | None:
    tree = page.parse_html(html)
    assert tree is not None
    return page._article_text(tree, html, url)


def link_list_page(links: int) -> str:
    """A short article, comments, a cookie banner, a follow-up article and `links` headlines:
    with many, the article is a small share of the page and trafilatura tries again."""
    text = "Rivers rose across the district overnight; residents moved to higher ground. " * 3
    more = "".join(
        f"<li><a href='/s/{i}'>Another headline about the river and the rain, number {i}</a></li>"
        for i in range(links)
    )
    return (
        "<html><head><title>Flood warning</title></head><body><article><h1>Flood warning</h1>"
        f"<p>{text}</p></article><div class='more'><ul>{more}</ul></div>"
        f"<div id='comments'><p>{'A long comment about the flood. ' * 20}</p></div>"
        "<div class='cookie-banner'>We use cookies</div>"
        "<div class='mvp-post-add-box'><p>Next article</p></div></body></html>"
    )


@pytest.mark.parametrize("links", [5, 120])
def test_the_article_text_is_trafilaturas(links: int) -> None:
    html = link_list_page(links)
    assert ours_text(html, "https://news.example/flood") == trafilaturas_text(
        html, "https://news.example/flood"
    )


def test_the_article_text_is_trafilaturas_on_every_golden_page() -> None:
    for path in sorted(need_golden().glob("*/*.html.gz")):
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        url = f"https://news.example/{path.stem}"
        assert ours_text(html, url) == trafilaturas_text(html, url), path.name


def test_a_byline_is_the_author_when_the_page_declares_none() -> None:
    text = "The committee met on Tuesday to discuss the budget and its many consequences. " * 4
    html = (
        "<html><head><title>Budget talks</title></head><body><article><h1>Budget talks</h1>"
        f'<div class="comments">By Someone Else</div><span class="byline">By Sana Mir</span>'
        f"<p>{text}</p></article></body></html>"
    )
    x = page.extract_page(html, "https://news.example/budget")
    assert x is not None and x.author == "Sana Mir"


def byline_page(rng: random.Random) -> str:
    """Bylines inside bylines, pruned parts (dates, comments, figures) inside both, and text
    and tails around each: what the byline search reads as trafilatura's extract_author does."""
    attrs = ["", ' class="author"', ' class="byline"', ' class="comments"', ' class="sidebar"',
             ' id="author"', ' class="meta-date"', ' itemprop="author"', ' class="date"',
             ' rel="author"']  # fmt: skip
    tags = ["div", "span", "p", "a", "time", "figure", "section", "strong", "b", "h3"]
    words = ["By", "Sana", "Mir", "and", "", " ", "x", "Ali", "Khan,", "12", "May", "long " * 30]

    def node(depth: int) -> str:
        if depth > 5 or rng.random() < 0.3:
            return rng.choice(words)
        tag = rng.choice(tags)
        inner = "".join(node(depth + 1) for _ in range(rng.randint(0, 4)))
        return f"<{tag}{rng.choice(attrs)}>{rng.choice(words)}{inner}</{tag}>{rng.choice(words)}"

    return "<html><body>" + "".join(node(0) for _ in range(rng.randint(1, 4))) + "</body></html>"


def test_the_byline_is_trafilaturas_with_pruned_parts_inside() -> None:
    rng = random.Random(3)
    named = 0
    for _ in range(1500):
        html = byline_page(rng)
        theirs, ours = page.parse_html(html), page.parse_html(html)
        assert theirs is not None and ours is not None
        expected = extract_author(theirs)
        assert page._byline(ours) == expected, html
        named += expected is not None
    assert named > 500


def test_nested_bylines_each_holding_a_date_take_linear_time() -> None:
    """Each byline once had its whole subtree copied and pruned: 12 s for this 107 KB page."""
    chain = '<div class="author">x ' * 200 + "<time>t</time>" + "long text " * 100
    html = f"<html><body><p>Text.</p>{(chain + '</div>' * 200) * 16}</body></html>"
    tree = page.parse_html(html)
    assert tree is not None
    start = time.process_time()
    assert page._byline(tree) is None  # every byline is too long to be a name
    assert time.process_time() - start < 2


def test_the_page_is_parsed_as_trafilatura_parses_it() -> None:
    """(Not quite always: a DOCTYPE after white space goes here, and stays there.)"""
    pages = [
        "<!DOCTYPE html>\n<html><head><title>t</title></head><body><p>x</p></body></html>",
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/'
        'xhtml1/DTD/xhtml1-strict.dtd"><html><body><p>x</p></body></html>',
        "  <! DOCTYPE html/><html><body><p>x</p></body></html>",
        "<html><body>\x01<p>x</p></body></html>",
        "\x01<!DOCTYPE html><html><body><p>x</p></body></html>",
    ]
    for html in pages:
        ours, theirs = page.parse_html(html), trafilatura.load_html(html)
        assert ours is not None and theirs is not None
        assert tostring(ours) == tostring(theirs), html[:200]


@pytest.mark.parametrize("start", ["<! DOCTYPE ", "<!doctype html><!DOCTYPE ", "\x01<!DOCTYPE "])
def test_a_doctype_of_slashes_is_parsed_in_linear_time(start: str) -> None:
    """trafilatura's DOCTYPE pattern backtracks over a first line of slashes: 3.7 s for 40 KB."""
    html = start + "/" * 200_000 + "<html><body><p>Text.</p></body></html>"
    begin = time.process_time()
    assert page.parse_html(html) is not None
    assert time.process_time() - begin < 2


def test_json_ld_is_read_as_trafilatura_reads_it() -> None:
    """_meta_json against trafilatura's extract_meta_json: golden pages, escaped quotes and
    spaces in strings, and JSON cut short (read by its error path)."""
    script = '<html><head><script type="application/ld+json">{}</script></head><body></body></html>'
    pages = [
        script.format('{"@type": "NewsArticle", "author": {"name": "Sana  Mir"}, "headline": '
                      '"A \\"b\\"  c"}'),
        script.format('{"@type": "NewsArticle", "author": {"name": "Ali Khan"}, "headline": "cut'),
    ]  # fmt: skip
    pages += [
        gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        for path in sorted(need_golden().glob("*/*.html.gz"))
    ]
    for html in pages:
        ours, theirs = page.parse_html(html), page.parse_html(html)
        assert ours is not None and theirs is not None
        a, b = page._meta_json(ours, Document()), extract_meta_json(theirs, Document())
        for name in ("title", "author", "sitename", "categories", "tags", "url", "pagetype"):
            assert getattr(a, name) == getattr(b, name), (name, html[:200])


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
