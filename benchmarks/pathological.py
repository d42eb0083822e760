"""Seconds that extraction and feed parsing take on hostile pages of pathological shapes.

Run by hand: python -m benchmarks.pathological [KB] (default 1024). Each shape is one page of
about KB kilobytes built to make a careless parser slow (quadratic patterns, deep nesting,
huge titles, NUL bytes); doubling KB should about double every time printed. The same shapes
are fed to the real functions by tests/hostile/test_extraction.py.
"""

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from crawler.demo.site import DemoArticle, article_html
from crawler.extraction.page import extract_page
from spiders.feeds import parse_feed

_PARAGRAPH = (
    "Pakistan and the United States renewed the CISMOA communications agreement this week, "
    "and the debate in Islamabad turned to what the armed forces gain from it. "
) * 3


def good_article(title: str = "A good op-ed on the CISMOA renewal") -> str:
    """An ordinary article page, for shapes that wrap hostile parts around real text."""
    return article_html(
        DemoArticle(
            path="/opinion/1/good",
            title=title,
            author="Staff",
            published=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
            paragraphs=[_PARAGRAPH, _PARAGRAPH],
        ),
        "Hostile Times",
        "http://127.0.0.1",
    )


def _repeat(unit: str, size: int) -> str:
    return unit * (size // len(unit))


def page_shapes(size: int) -> dict[str, str]:
    """Hostile HTML pages of about `size` characters, by name."""
    good = good_article()
    body_at = good.index("<body")
    return {
        "h1": "<html><body>" + _repeat("<h1>", size),
        "h1-unclosed-text": "<html><body><h1>" + _repeat("x ", size) + _PARAGRAPH,
        "meta": "<html><head>" + _repeat("<meta ", size),
        "meta-property": "<html><head>" + _repeat('<meta property="article:published_time" ', size),
        "doctype-subset": _repeat("<!DOCTYPE[", size),
        "doctype-slashes": "<!DOCTYPE " + _repeat("/", size),
        "json-ld": "<html><head><script>" + _repeat('"datePublished": "', size) + "</script>",
        "nested-100k": good[:body_at]
        + "<body>"
        + "<div>" * 100_000
        + f"<p>{_PARAGRAPH}</p>"
        + "</div>" * 100_000
        + "</body></html>",
        "title-100k": good_article(_repeat("Headline words | ", max(size // 10, 100_000))),
        "nul-bytes": good.replace("<p>", "<p>" + "\x00" * (size // 2) + "N\x00UL ", 2),
        "tags-only": _repeat("<p><b><i>", size),
    }


def feed_shapes(size: int) -> dict[str, bytes]:
    """Hostile feed documents of about `size` bytes, by name."""
    return {
        "doctype-subset": _repeat("<!DOCTYPE[", size).encode(),
        "doctype-unclosed": ("<!DOCTYPE rss [" + _repeat("<!ENTITY a 'b'>", size)).encode(),
        "doctype-then-rss": (
            _repeat("<!DOCTYPE x>", size)
            + '<rss version="2.0"><channel><item><link>http://127.0.0.1/a</link></item>'
            "</channel></rss>"
        ).encode(),
        "nested-100k": (
            '<rss version="2.0"><channel>' + "<item>" * 100_000 + "</item>" * 100_000
        ).encode(),
        "nul-bytes": b"\x00" * size,
    }


def _time(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    size = int(sys.argv[1]) * 1024 if len(sys.argv) > 1 else 1024 * 1024
    url = "http://127.0.0.1/opinion/1/good"
    for name, html in page_shapes(size).items():
        seconds = _time(lambda html=html: extract_page(html, url))  # type: ignore[misc]
        print(f"extract_page {name:18} {len(html) / 1024:8.0f} KB {seconds:7.2f} s")
    for name, body in feed_shapes(size).items():
        seconds = _time(lambda body=body: parse_feed(body, url))  # type: ignore[misc]
        print(f"parse_feed   {name:18} {len(body) / 1024:8.0f} KB {seconds:7.2f} s")


if __name__ == "__main__":
    main()
